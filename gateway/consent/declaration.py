"""The site's cookie declaration, built from the inventory, in the banner's five languages.

One table (name, provider, purpose, category, lifetime, first or third party) for the
``/_consent/cookies`` page, the privacy page and ``consent-gateway notice``. The words
that are ours (headings, category names, lifetimes) are translated as the banner's
are; providers, purposes and the database's retention periods are the Open Cookie
Database's own English. A name nothing knows that only browsers sent is left out:
anyone can send a cookie name, and the public page must not repeat it; the admin
"Cookies" page lists it for the operator to classify.
"""

from __future__ import annotations

import html

from gateway.consent.inventory import InventoryEntry

LANGUAGES = ("en", "fr", "de", "es", "cy")

WORDS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Cookies on this site",
        "intro": "The cookies this site uses, as the consent gateway has seen them.",
        "name": "Cookie",
        "provider": "Provider",
        "purpose": "Purpose",
        "category": "Category",
        "lifetime": "Lifetime",
        "party": "Set by",
        "first": "this site",
        "third": "a third party",
        "session": "session",
        "unknown": "not described yet",
        "none": "No cookie has been seen yet.",
        "necessary": "Necessary",
        "preferences": "Preferences",
        "analytics": "Analytics",
        "marketing": "Marketing",
        "minutes": "{n} minutes",
        "hours": "{n} hours",
        "days": "{n} days",
    },
    "fr": {
        "title": "Les cookies de ce site",
        "intro": "Les cookies que ce site utilise, tels que la passerelle de consentement "
        "les a vus.",
        "name": "Cookie",
        "provider": "Fournisseur",
        "purpose": "Finalité",
        "category": "Catégorie",
        "lifetime": "Durée",
        "party": "Déposé par",
        "first": "ce site",
        "third": "un tiers",
        "session": "session",
        "unknown": "pas encore décrit",
        "none": "Aucun cookie n'a encore été vu.",
        "necessary": "Nécessaires",
        "preferences": "Préférences",
        "analytics": "Statistiques",
        "marketing": "Marketing",
        "minutes": "{n} minutes",
        "hours": "{n} heures",
        "days": "{n} jours",
    },
    "de": {
        "title": "Cookies auf dieser Website",
        "intro": "Die Cookies, die diese Website verwendet, wie das Consent-Gateway sie "
        "gesehen hat.",
        "name": "Cookie",
        "provider": "Anbieter",
        "purpose": "Zweck",
        "category": "Kategorie",
        "lifetime": "Speicherdauer",
        "party": "Gesetzt von",
        "first": "dieser Website",
        "third": "einem Dritten",
        "session": "Sitzung",
        "unknown": "noch nicht beschrieben",
        "none": "Noch kein Cookie gesehen.",
        "necessary": "Notwendig",
        "preferences": "Einstellungen",
        "analytics": "Statistik",
        "marketing": "Marketing",
        "minutes": "{n} Minuten",
        "hours": "{n} Stunden",
        "days": "{n} Tage",
    },
    "es": {
        "title": "Las cookies de este sitio",
        "intro": "Las cookies que usa este sitio, tal como las ha visto la pasarela de "
        "consentimiento.",
        "name": "Cookie",
        "provider": "Proveedor",
        "purpose": "Finalidad",
        "category": "Categoría",
        "lifetime": "Duración",
        "party": "Instalada por",
        "first": "este sitio",
        "third": "un tercero",
        "session": "sesión",
        "unknown": "aún sin describir",
        "none": "Aún no se ha visto ninguna cookie.",
        "necessary": "Necesarias",
        "preferences": "Preferencias",
        "analytics": "Estadísticas",
        "marketing": "Marketing",
        "minutes": "{n} minutos",
        "hours": "{n} horas",
        "days": "{n} días",
    },
    "cy": {
        "title": "Cwcis ar y wefan hon",
        "intro": "Y cwcis y mae'r wefan hon yn eu defnyddio, fel y'u gwelwyd gan y porth caniatâd.",
        "name": "Cwci",
        "provider": "Darparwr",
        "purpose": "Diben",
        "category": "Categori",
        "lifetime": "Hyd",
        "party": "Gosodwyd gan",
        "first": "y wefan hon",
        "third": "trydydd parti",
        "session": "sesiwn",
        "unknown": "heb ei ddisgrifio eto",
        "none": "Ni welwyd unrhyw gwci eto.",
        "necessary": "Angenrheidiol",
        "preferences": "Dewisiadau",
        "analytics": "Ystadegau",
        "marketing": "Marchnata",
        "minutes": "{n} munud",
        "hours": "{n} awr",
        "days": "{n} diwrnod",
    },
}
COLUMNS = ("name", "provider", "purpose", "category", "lifetime", "party")


def declared(entries: list[InventoryEntry]) -> list[InventoryEntry]:
    """The entries the public declaration lists: known to a rule, or set by the site."""
    chosen = [e for e in entries if not e.unknown or e.set_by_site]
    return sorted(chosen, key=lambda e: (e.category, e.provider.lower(), e.name.lower()))


def lifetime(entry: InventoryEntry, language: str) -> str:
    """The longest lifetime the cookie was set with, else the database's retention."""
    words = WORDS[language]
    seconds = entry.lifetime
    if seconds < 0:
        return entry.retention
    if seconds == 0:
        return words["session"]
    if seconds < 2 * 3600:
        return words["minutes"].format(n=max(1, round(seconds / 60)))
    if seconds < 2 * 86400:
        return words["hours"].format(n=round(seconds / 3600))
    return words["days"].format(n=round(seconds / 86400))


def cells(entry: InventoryEntry, language: str) -> list[str]:
    """One row of the table as plain text, in :data:`COLUMNS` order."""
    words = WORDS[language]
    return [
        entry.name,
        entry.provider,
        entry.purpose or words["unknown"],
        words.get(entry.category, entry.category),
        lifetime(entry, language),
        words[entry.party],
    ]


def to_html(entries: list[InventoryEntry], language: str = "en", heading: str = "h2") -> str:
    """The declaration as an HTML section (a heading, a sentence and a table)."""
    words = WORDS[language if language in WORDS else "en"]
    language = language if language in WORDS else "en"
    e = html.escape
    rows = declared(entries)
    parts = [
        f"<section id=cookie-declaration><{heading}>{e(words['title'])}</{heading}>",
        f"<p>{e(words['intro'])}</p>",
    ]
    if not rows:
        parts.append(f"<p>{e(words['none'])}</p></section>")
        return "".join(parts)
    head = "".join(f'<th scope="col">{e(words[c])}</th>' for c in COLUMNS)
    body = "".join(
        f'<tr data-cookie="{e(entry.name)}">'
        + "".join(f"<td>{e(cell)}</td>" for cell in cells(entry, language))
        + "</tr>"
        for entry in rows
    )
    parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></section>")
    return "".join(parts)


def to_markdown(entries: list[InventoryEntry], language: str = "en") -> str:
    """The declaration as a Markdown table (for ``consent-gateway notice``)."""
    words = WORDS[language if language in WORDS else "en"]
    language = language if language in WORDS else "en"
    rows = declared(entries)
    out = [f"### {words['title']}", "", words["intro"], ""]
    if not rows:
        return "\n".join([*out, words["none"]]) + "\n"
    out.append("| " + " | ".join(words[c] for c in COLUMNS) + " |")
    out.append("|" + "---|" * len(COLUMNS))
    for entry in rows:
        cleaned = (cell.replace("|", "\\|").replace("\n", " ") for cell in cells(entry, language))
        out.append("| " + " | ".join(cleaned) + " |")
    return "\n".join(out) + "\n"
