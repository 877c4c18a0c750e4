"""The trust's figures: every site side by side and their total, under the k rule.

Both the trust's view (:mod:`gateway.admin.trust`) and the trust's email report
read them here. Each site gets its visitors, visits and page views, its banner's
acceptance, rejection and custom rates, and the visitors of each goal, every
figure from the stats layer under the k rule (``CG_STATS_MIN_VISITORS``). A total
adds up only the figures that pass: a site whose figure is withheld adds nothing
and is named beside the total, so no difference between totals and shown figures
can reveal a withheld one. A total that nothing passes into is withheld itself.
Rates in the total are recomputed from the summed counts. A person who visits two
sites counts once on each (each site's visitors are its own).

The trust's report (:func:`read_trust_report`) adds each site's top pages and the
period's annotations of every site to these figures.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gateway.reports.figures import Period, top_rows
from gateway.settings import Settings
from gateway.sites import site_ids
from gateway.stats import aggregate, consent_figures
from gateway.stats.annotations import Annotation, list_annotations
from gateway.stats.conversions import goal_figures
from gateway.stats.goals import list_goals
from gateway.stats.query import StatsQuery
from gateway.storage import Storage

TRAFFIC = ("visitors", "visits", "pageviews")
CHOICES = ("accepted", "rejected", "custom")
RATES = {"accepted": "acceptance_rate", "rejected": "rejection_rate", "custom": "custom_rate"}
TOP_PAGES = 5  # per site: a trust of twenty sites still reads as one email


@dataclass
class SiteFigures:
    """One site's column: ``None`` where the k rule withholds a figure."""

    site: str
    traffic: dict[str, int | None]
    consent: dict[str, Any]
    goals: dict[str, int | None] = field(default_factory=dict)


def site_figures(
    storage: Storage, site: str, start: datetime, end: datetime, settings: Settings
) -> SiteFigures:
    """The figures of ``site`` over ``[start, end)`` (blocking: run it off the loop)."""
    k = settings.stats_min_visitors
    q = StatsQuery(site, start, end, {})
    traffic = aggregate(storage, q, TRAFFIC, k=k)
    raw = consent_figures(storage, q, settings.consent_categories)
    choices = int(raw["choices"])
    consent: dict[str, Any] = {"choices": choices, **{name: int(raw[name]) for name in CHOICES}}
    consent.update({RATES[name]: raw[RATES[name]] for name in CHOICES})
    if 0 < choices < k:  # a rate of one or two answers tells what those visitors chose
        consent = dict.fromkeys(consent)
    goals = goal_figures(storage, q, [stored.goal for stored in list_goals(storage, site)], k=k)
    return SiteFigures(site, traffic, consent, {row["goal"]: row["visitors"] for row in goals})


def total(values: Sequence[int | None]) -> int | None:
    """The sum of the figures that pass the k rule; withheld (``None``) when only withheld
    figures were there to add."""
    shown = [value for value in values if value is not None]
    if not shown and any(value is None for value in values):
        return None
    return sum(shown)


def totals(columns: Sequence[SiteFigures]) -> dict[str, Any]:
    """The trust's column: each figure the :func:`total` of the sites', and which sites
    each one leaves out because their figure is withheld."""
    out: dict[str, Any] = {"withheld_sites": {}}

    def add(key: str, values: Mapping[str, int | None]) -> int | None:
        left_out = [site for site, value in values.items() if value is None]
        if left_out:
            out["withheld_sites"][key] = left_out
        return total(list(values.values()))

    traffic = {m: add(m, {c.site: c.traffic[m] for c in columns}) for m in TRAFFIC}
    consent: dict[str, Any] = {
        name: add(f"consent.{name}", {c.site: c.consent[name] for c in columns})
        for name in ("choices", *CHOICES)
    }
    for name in CHOICES:
        choices, count = consent["choices"], consent[name]
        rate = None if choices is None or count is None else _percent(count, choices)
        consent[RATES[name]] = rate
    names = list(dict.fromkeys(goal for c in columns for goal in c.goals))
    goals = {
        name: add(f"goal.{name}", {c.site: c.goals[name] for c in columns if name in c.goals})
        for name in names
    }
    out.update(traffic=traffic, consent=consent, goals=goals)
    return out


def _percent(part: int, whole: int) -> float:
    """``part`` of ``whole`` in percent with one decimal, as the consent panel rounds."""
    return round(100 * part / whole, 1) if whole else 0.0


@dataclass(frozen=True)
class TrustReport:
    """Everything the trust's report shows, the k rule already applied."""

    period: Period
    k: int
    columns: list[SiteFigures]
    summed: dict[str, Any]
    pages: dict[str, list[dict[str, Any]]]  # each site's top pages
    annotations: list[tuple[str, Annotation]]  # (site, note), by day


def read_trust_report(storage: Storage, settings: Settings, period: Period) -> TrustReport:
    """The trust's report for ``period``: every site this deployment serves (blocking)."""
    k = settings.stats_min_visitors
    sites = site_ids(settings)
    columns = [site_figures(storage, site, period.start, period.end, settings) for site in sites]
    pages = {
        site: top_rows(
            storage,
            StatsQuery(site, period.start, period.end),
            "page",
            ("visitors", "pageviews"),
            k,
            TOP_PAGES,
        )
        for site in sites
    }
    notes = [
        (site, note)
        for site in sites
        for note in list_annotations(storage, site, period.first, period.last)
    ]
    notes.sort(key=lambda pair: (pair[1].day, pair[0]))
    return TrustReport(period, k, columns, totals(columns), pages, notes)
