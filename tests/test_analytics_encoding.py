"""The encoded row: every column is what the event says, whichever shortcut built it.

:func:`encode` takes some columns pre-encoded (the user agent's five, the eight
source columns of a page view without query, title or referrer, and from a cache
those of a short query and referrer seen before), and the
recorder builds page views with :func:`page_view_for`. These tests hold each
shortcut to the plain way: ``json.loads`` of the line against the columns
computed one by one, and ``page_view_for`` against ``event_for``.
"""

from __future__ import annotations

import hashlib
import json
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.ingest import plain_columns
from gateway.analytics.events import (
    COLUMNS,
    Event,
    Kind,
    earliest_time,
    encode,
    event_for,
    page_view_for,
    visitor_key,
)
from gateway.analytics.steps import default_pipeline
from gateway.analytics.useragent import parse_user_agent
from tests.analytics_helpers import FIREFOX, IPHONE, make_context, make_event

AGENTS = [FIREFOX, IPHONE, "", 'odd "agent" \\ \u2028', "x" * 600]
REFERRERS = [
    "",
    "https://gateway.test/courses?x=1",
    "https://search.example/results?q=secret",
    "javascript:alert(1)",
    "https://search.example/" + "long/" * 120,  # past the source cache's limit
]
HOSTS = ["gateway.test", "www.School.Example.:8443", "[2001:db8::1]:8080", "www.", ""]


def expected_row(event: Event) -> list[object]:
    """The columns of ``event`` computed one by one, the slow and obvious way."""
    values = plain_columns(event)
    assert list(values) == list(COLUMNS)
    return list(values.values())


@given(
    kind=st.sampled_from(list(Kind)),
    path=st.text(max_size=40).map(lambda text: "/" + text),
    query=st.sampled_from(["", "a=1", "utm_source=news&utm_medium=e%22mail&utm_campaign=x"]),
    title=st.text(max_size=20),
    referrer=st.sampled_from(REFERRERS),
    agent=st.sampled_from(AGENTS),
    name=st.text(max_size=10),
    props=st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2),
    host=st.sampled_from(HOSTS),
    city_id=st.sampled_from([0, 4347778, 2**32 - 1]),
)
def test_every_column_of_the_line_is_the_events(
    kind: Kind,
    path: str,
    query: str,
    title: str,
    referrer: str,
    agent: str,
    name: str,
    props: dict[str, str],
    host: str,
    city_id: int,
) -> None:
    event = make_event(
        path,
        kind=kind,
        user_agent=agent,
        query=query,
        title=title,
        referrer=referrer,
        name=name,
        props=props,
        engagement_ms=1500,
        country="GB",
        city="Reading",
        region_code="GB-WBK",
        city_id=city_id,
        host=host,
    )
    event.session_id = 2**64 - 1
    event.visitor_key = visitor_key("c0ffee00c0ffee00c0ffee00c0ffee00")
    event.agent = parse_user_agent(agent)
    line = encode(event)
    # A lone surrogate cannot be UTF-8: encode writes "?" for it, and so does this.
    expected = json.dumps(expected_row(event), ensure_ascii=False)
    assert json.loads(line) == json.loads(expected.encode("utf-8", "replace"))


def test_a_page_view_without_query_title_or_referrer_has_empty_source_columns() -> None:
    lines: list[bytes] = []
    default_pipeline(lines.extend, None).process(make_event("/plain"))
    row = dict(zip(COLUMNS, json.loads(lines[0]), strict=True))
    assert (row["browser"], row["browser_version"], row["os"], row["device"]) == (
        "Firefox",
        "128",
        "Linux",
        "desktop",
    )
    sources = ["query", "title", "referrer_host", "referrer_path", "prev_path"]
    sources += ["utm_source", "utm_medium", "utm_campaign"]
    assert [row[column] for column in sources] == [""] * 8


@given(st.text(min_size=1, max_size=40))
def test_the_visitor_key_is_the_uuid_of_the_hash(consent_id: str) -> None:
    digest = hashlib.blake2b(consent_id.encode(), digest_size=16, person=b"cg-visitor").digest()
    assert visitor_key(consent_id) == str(uuid.UUID(bytes=digest))


def test_page_view_for_builds_what_event_for_builds() -> None:
    context = make_context()
    fast = page_view_for(context, "site", FIREFOX, 1.5, "/p", "utm_source=x", "https://r/", 201)
    plain = event_for(
        context,
        "site",
        FIREFOX,
        1.5,
        kind=Kind.PAGEVIEW,
        path="/p",
        query="utm_source=x",
        referrer="https://r/",
        status=201,
    )
    assert fast == plain


def test_earliest_time_reads_the_first_column_of_lines_as_a_list_or_joined() -> None:
    lines: list[bytes] = []
    steps = default_pipeline(lines.extend, None)
    for moment in (1_700_000_300.25, 1_700_000_100.5, 1_700_000_200.0):
        assert steps.process(make_event(at=moment)) is None
    assert earliest_time(lines) == 1_700_000_100.5
    assert earliest_time(b"\n".join(lines)) == 1_700_000_100.5
    assert earliest_time([b"", b"not a line"]) is None


@pytest.mark.parametrize(
    ("host", "hostname"),
    [
        ("blog.example.com", "blog.example.com"),
        ("www.School.Example.:8443", "school.example"),
        ("[2001:db8::1]:8080", "2001:db8::1"),
        ("a@evil.example", ""),
    ],
)
def test_the_hostname_column_is_the_host_as_plausible_keeps_it(host: str, hostname: str) -> None:
    lines: list[bytes] = []
    default_pipeline(lines.extend, None).process(make_event("/", host=host))
    assert dict(zip(COLUMNS, json.loads(lines[0]), strict=True))["hostname"] == hostname
