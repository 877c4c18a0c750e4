"""Which sites an account or a stats API token may read, as the operator names them.

An account or a token lists site ids; an empty list means every site. The names
are checked against the sites the deployment serves
(:func:`gateway.sites.site_ids`) when they are given, so a typo fails at once
with the list of ids instead of locking someone out of a site later.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from gateway.exceptions import CommandError

MAX_SITES = 200


def named_sites(requested: Iterable[str], served: Sequence[str]) -> tuple[str, ...]:
    """``requested`` trimmed, without repeats, in the order given; each one a served id.

    A :class:`CommandError` names an unknown id and the ids there are.
    """
    names: list[str] = []
    for raw in requested:
        name = str(raw).strip()
        if not name or name in names:
            continue
        if name not in served:
            raise CommandError(
                f"This gateway serves no site {name[:100]!r}; its sites are {', '.join(served)}."
            )
        names.append(name)
    if len(names) > MAX_SITES:
        raise CommandError(f"Name at most {MAX_SITES} sites.")
    return tuple(names)


def split_sites(text: str) -> list[str]:
    """A form's list of site ids: separated by commas, spaces or new lines."""
    return text.replace(",", " ").split()


def covers(sites: Sequence[str], site: str) -> bool:
    """Whether a scope of ``sites`` (empty: every site) reaches ``site``."""
    return not sites or site in sites
