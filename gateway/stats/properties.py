"""What the statistics filter and break down by, declared once: the properties.

A :class:`Property` says where each source holds a value (an events column, a
column of the finalised sessions, or both) and how its values are shown; the
filters (:mod:`gateway.stats.sql`) and the breakdowns (:mod:`gateway.stats.topn`)
read it from here. A breakdown reads the rows of the property's
:class:`Dimension`: from the sessions when a whole visit carries the value (one
row a visit instead of one an event, and visits are then a plain count), else
from the events. Plausible's names (``event:page``, ``visit:country``) map to the short
names in :data:`gateway.stats.query.FILTERS`, built from these.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from gateway.stats.metrics import EVENTS, SESSIONS, Source
from gateway.stats.names import BROWSERS, DEVICES, DIRECT, SYSTEMS, literal, renamed, source

__all__ = ["DIRECT", "NEXT_PAGES", "PLANNED", "PROPERTIES", "UNKNOWN", "WHOLE_SITE", "Property"]

UNKNOWN = "(unknown)"
"""The label of an empty location or device value (no GeoIP database, say)."""


@dataclass(frozen=True)
class Dimension:
    """The rows of one source grouped by one of its columns, as the rollups hold them.

    ``name`` is the rollups' ``dim``. The rollups keep the rows of page views only
    (``pageviews_only``), of non-empty values only (``non_empty``), or of the page
    views that followed the page bound as ``from_page`` (``after_page``); the raw
    rows are narrowed the same way. The merged windows hold every dimension but
    the next pages (not ``windowed``).
    """

    name: str
    source: Source
    column: str = ""  # none for the whole site
    pageviews_only: bool = False
    non_empty: bool = False
    after_page: bool = False
    windowed: bool = True
    rolled: bool = True  # whether the rollups hold this dimension at all


WHOLE_SITE = {EVENTS: Dimension("", EVENTS), SESSIONS: Dimension("visit", SESSIONS)}
"""Each source's rows of the whole site."""

NEXT_PAGES = Dimension("next", EVENTS, "path", pageviews_only=True, after_page=True, windowed=False)
"""The pages viewed right after the page bound as ``from_page`` (its same-origin referrer).

Never narrowed to contenders: its rolled rows are days only (no merged window), so
a value's largest part is one day's visitors, and hundreds of values would stay
contenders."""


@dataclass(frozen=True)
class Property:
    """A property a question filters and breaks down by.

    ``events`` and ``sessions`` are the columns holding it there. A property of
    the events is the same on every event of a visit, unless ``landing_only``
    (only the landing event carries it) or ``pageviews_only`` (a visit has every
    page it viewed). ``key`` is the column a breakdown groups by when it is not
    the filtered one, ``empty`` the label of an empty value, and ``many_values``
    marks properties with thousands of values, where a top-N query first narrows
    the values it merges (:mod:`gateway.stats.topn`). Not the sources: a few
    thousand referrer hosts merge whole sooner than the narrowing pass takes
    (``scripts/bench dashboard`` shows both). ``shown`` turns a stored value into
    the name the statistics show (:mod:`gateway.stats.names`); ``rolled`` is
    false for the properties the rollups do not hold; a ``number`` (a GeoNames id)
    is compared as text and answered as a number.
    """

    name: str
    plausible: str
    events: str = ""
    sessions: str = ""
    key: str = ""
    empty: str = ""
    landing_only: bool = False
    pageviews_only: bool = False
    non_empty: bool = False
    many_values: bool = False
    shown: Callable[[str], str] | None = None
    rolled: bool = True
    number: bool = False

    def label(self, column: str) -> str:
        """The SQL of the value a row shows (and a filter compares) for stored ``column``.

        A sessions column apart from the key (the source) holds the shown value already.
        """
        if self.key and column == self.sessions:
            return column
        named = self.shown(column) if self.shown else column
        if self.empty and self.name != "source":
            return f"if({column} = '', {literal(self.empty)}, {named})"
        return named

    def shown_sql(self, column: str) -> str:
        """The name shown for the stored values of ``column``."""
        return self.shown(column) if self.shown else column

    @property
    def dimension(self) -> Dimension:
        """The rows a breakdown by this property reads."""
        source = SESSIONS if self.sessions else EVENTS
        column = self.key or (self.sessions if self.sessions else self.events)
        return Dimension(
            self.name,
            source,
            column,
            pageviews_only=self.pageviews_only,
            non_empty=self.non_empty,
            rolled=self.rolled,
        )


_browser = partial(renamed, names=BROWSERS)
_system = partial(renamed, names=SYSTEMS)
_device = partial(renamed, names=DEVICES)

PROPERTIES = {
    prop.name: prop
    for prop in (
        Property("page", "event:page", events="path", pageviews_only=True, many_values=True),
        Property("entry_page", "visit:entry_page", sessions="entry_page", many_values=True),
        Property("exit_page", "visit:exit_page", sessions="exit_page", many_values=True),
        # Filtered on the name; grouped by the referrer host, as the rollups hold it.
        Property(
            "source", "visit:source", sessions="source", key="referrer", empty=DIRECT, shown=source
        ),
        Property(
            "referrer",
            "visit:referrer",
            # Plausible's form: the host without "www.", the path without a closing "/".
            events="concat(replaceRegexpOne(referrer_host, '^www\\\\.', ''), "
            "replaceRegexpOne(referrer_path, '/+$', ''))",
            landing_only=True,
            non_empty=True,
            rolled=False,
        ),
        Property("utm_source", "visit:utm_source", sessions="utm_source", non_empty=True),
        Property(
            "utm_medium", "visit:utm_medium", events="utm_medium", landing_only=True, non_empty=True
        ),
        Property(
            "utm_campaign",
            "visit:utm_campaign",
            events="utm_campaign",
            landing_only=True,
            non_empty=True,
        ),
        *(
            # Kept in the landing view's query, which holds its utm_* parameters only.
            Property(
                name,
                f"visit:{name}",
                events=f"decodeURLFormComponent(extractURLParameter(concat('?', query), '{name}'))",
                landing_only=True,
                non_empty=True,
                rolled=False,
            )
            for name in ("utm_content", "utm_term")
        ),
        Property("country", "visit:country", events="country", sessions="country", empty=UNKNOWN),
        # Names, as the geolocation database gives them (what the dashboard shows).
        Property("region", "visit:region_name", events="region", empty=UNKNOWN, many_values=True),
        Property("city", "visit:city_name", events="city", empty=UNKNOWN, many_values=True),
        # ISO 3166-2 codes and GeoNames ids, kept since 0016 where the database has them:
        # rows without one match no filter and are left out of a breakdown.
        Property("region_code", "visit:region", events="region_code", non_empty=True, rolled=False),
        Property(
            "city_id",
            "visit:city",
            events="if(city_id = 0, '', toString(city_id))",
            non_empty=True,
            rolled=False,
            number=True,
        ),
        Property(
            "browser",
            "visit:browser",
            events="browser",
            sessions="browser",
            empty=UNKNOWN,
            shown=_browser,
        ),
        Property(
            "browser_version",
            "visit:browser_version",
            events="browser_version",
            empty=UNKNOWN,
            rolled=False,
        ),
        Property("os", "visit:os", events="os", sessions="os", empty=UNKNOWN, shown=_system),
        Property(
            "os_version", "visit:os_version", events="os_version", empty=UNKNOWN, rolled=False
        ),
        Property(
            "device",
            "visit:device",
            events="device",
            sessions="device",
            empty=UNKNOWN,
            shown=_device,
        ),
        # The host a page was served under (without "www."), kept since 0016.
        Property("hostname", "event:hostname", events="hostname", non_empty=True, rolled=False),
    )
}
"""Every property by its short name, in the order the API lists them."""

PLANNED = {
    "event:goal": "event:goal filters every question; as a property, break down by it",
    "event:name": "filter by event:goal, or break down by event:name",
}
"""Plausible's properties this API does not offer, and why (``event:props:*`` too)."""
