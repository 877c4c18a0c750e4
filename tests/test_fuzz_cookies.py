"""Fuzzing the cookies both ways through the real app: forged, truncated, re-signed,
huge and non-ASCII cookies from visitors, and any ``Set-Cookie`` an upstream may send.

Invariants: never a 500 or a traceback; a consent cookie we did not sign never
grants anything; before consent, no cookie but the gateway's own and the
site's necessary ones reaches the browser or the site; after consent, no cookie
outlives 13 months. The expected answers are worked out here, from the rules of
the test's configuration and from itsdangerous directly, not from our code.

The app runs in-process (tests/inprocess.py) in front of a real upstream on loopback.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from itsdangerous import BadSignature, TimestampSigner

from gateway.app import create_app
from gateway.consent.set_cookie import cap_lifetime, cookie_name, path_and_domain
from gateway.context import MAX_COOKIE_BYTES
from gateway.cookies import join_cookie_pairs, parse_cookie_header
from tests.conftest import make_settings
from tests.fuzz_upstream import create_fuzz_upstream
from tests.inprocess import InProcess, in_process
from tests.servers import run_server

NEW_KEY = "n" * 40
OLD_KEY = "o" * 40
WRONG_KEY = "w" * 40
MAX_COOKIE_SECONDS = 395 * 86400  # 13 months, the cap the issue promises
NO_CONSENT = {"necessary": True, "preferences": False, "analytics": False, "marketing": False}
TRACKERS = "_ga=GA1.1.1; _fbp=fb.1.2; theme=dark; zz_unknown=1; keep_cart=42"


def sign(key: str, salt: str, value: str) -> str:
    """A cookie value signed as the gateway signs, made with itsdangerous directly."""
    return TimestampSigner(key, salt=salt, digest_method=hashlib.sha256).sign(value).decode()


def signed_by_us(value: str, salt: str) -> bool:
    signer = TimestampSigner([OLD_KEY, NEW_KEY], salt=salt, digest_method=hashlib.sha256)
    try:
        signer.unsign(value)
    except BadSignature:
        return False
    return True


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcess]:
    with run_server(create_fuzz_upstream()) as upstream:
        settings = make_settings(
            upstream,
            tmp_path_factory.mktemp("fuzz-cookies"),
            secret_key=f"{NEW_KEY},{OLD_KEY}",
            cookie_rules="keep_*=necessary",
            rate_limit_consent="off",
            rate_limit_beacon="off",
        )
        with in_process(create_app(settings)) as app:
            yield app


def set_cookie_name(header: str) -> str:
    """The name a browser gives a Set-Cookie (RFC 6265 section 5.2), or the whole pair."""
    return header.split(";", 1)[0].split("=", 1)[0].strip()


def is_deletion(header: str) -> bool:
    return re.search(r";\s*max-age=0\s*(;|$)", header, re.IGNORECASE) is not None


def assert_nothing_unconsented_set(response: httpx.Response) -> None:
    for header in response.headers.get_list("set-cookie"):
        name = set_cookie_name(header)
        if name.startswith("cg_") and not is_deletion(header):
            value = header.split(";", 1)[0].split("=", 1)[1]
            salt = {"cg_session": "cg.session", "cg_consent": "cg.consent"}[name]
            assert signed_by_us(value, salt), f"a gateway cookie the gateway did not sign: {header}"
        elif not name.startswith("keep_"):
            assert is_deletion(header), f"a cookie set before consent: {header}"


_CONTROLS = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")


def refused_as_bad_header(response: httpx.Response, sent: bytes) -> bool:
    """Whether ``sent`` held a control character, and the gateway refused it as it must."""
    if not _CONTROLS.search(sent):
        return False
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_header"
    return True


def refused_as_too_large(response: httpx.Response, sent: bytes) -> bool:
    """Whether ``sent`` is a Cookie header over the bound, and the gateway refused it with 431."""
    if len(sent) <= MAX_COOKIE_BYTES:
        return False
    assert response.status_code == 431
    assert response.json()["error"]["code"] == "cookie_too_large"
    return True


def assert_clean(response: httpx.Response) -> None:
    assert response.status_code < 500, response.text
    assert "Traceback" not in response.text
    for key, value in response.headers.multi_items():
        assert not set(key + value) & {"\r", "\n", "\x00"}, (key, value)


# -- visitors' cookies --------------------------------------------------------------------

payloads = st.one_of(
    st.builds(
        lambda cid, cats: f"{cid}~1~{'+'.join(cats)}",
        st.text(min_size=1, max_size=22),
        st.lists(st.sampled_from(["analytics", "marketing", "preferences", "x"]), max_size=4),
    ),
    st.text(max_size=64),
)


@st.composite
def forged_consent(draw: st.DrawFn) -> str:
    """Consent cookie values the gateway did not sign, or no longer whole."""
    payload = draw(payloads)
    genuine = sign(NEW_KEY, "cg.consent", payload)
    kind = draw(st.sampled_from(["wrong_key", "wrong_salt", "truncated", "tampered", "garbage"]))
    if kind == "wrong_key":
        return sign(WRONG_KEY, "cg.consent", payload)
    if kind == "wrong_salt":
        return sign(NEW_KEY, "cg.session", payload)
    if kind == "truncated":
        return genuine[: draw(st.integers(0, len(genuine) - 1))]
    if kind == "tampered":
        # A change inside the signed part (value and timestamp), never the signature's
        # last character, whose low bits base64 ignores.
        signed_part = genuine.rsplit(".", 1)[0]
        at = draw(st.integers(0, len(signed_part) - 1))
        new = draw(
            st.characters(min_codepoint=0x21, max_codepoint=0x7E).filter(lambda c: c != genuine[at])
        )
        return genuine[:at] + new + genuine[at + 1 :]
    return draw(
        st.one_of(
            st.text(max_size=300),
            st.text(min_size=1, max_size=3).map(lambda s: s * 3000),  # huge
            st.text(alphabet=st.characters(min_codepoint=0x80), max_size=50),  # non-ASCII
        )
    )


def cookie_header(**cookies: str) -> bytes:
    return "; ".join(f"{name}={value}" for name, value in cookies.items()).encode()


@given(forged_consent())
def test_a_consent_cookie_we_did_not_sign_grants_nothing(gateway: InProcess, value: str) -> None:
    header = cookie_header(cg_consent=value)
    state = gateway.request("GET", "/_consent/state", headers={"cookie": header})
    assert_clean(state)
    if refused_as_bad_header(state, header) or refused_as_too_large(state, header):
        return
    assert state.status_code == 200
    assert state.json()["categories"] == NO_CONSENT
    assert state.json()["must_show"] is True

    with_trackers = header + b"; " + TRACKERS.encode()
    page = gateway.request("GET", "/echo", headers={"cookie": with_trackers})
    assert_clean(page)
    if refused_as_too_large(page, with_trackers):
        return
    assert page.json()["cookies"] == "keep_cart=42"
    assert page.json()["consent"].startswith("preferences=0; analytics=0; marketing=0")
    assert_nothing_unconsented_set(page)


@given(payloads)
def test_a_choice_signed_with_the_previous_key_still_counts(gateway: InProcess, cid: str) -> None:
    # The positive control: the same checks do see consent when it is real.
    value = sign(OLD_KEY, "cg.consent", f"id{abs(hash(cid))}~1~analytics")
    state = gateway.request(
        "GET", "/_consent/state", headers={"cookie": cookie_header(cg_consent=value)}
    )
    assert state.json()["categories"] == {**NO_CONSENT, "analytics": True}


@given(
    st.one_of(
        st.text(max_size=200),
        st.builds(lambda s: sign(WRONG_KEY, "cg.session", s), st.text(max_size=30)),
        st.builds(lambda s: sign(NEW_KEY, "cg.consent", s), st.text(max_size=30)),
        st.builds(lambda n: sign(NEW_KEY, "cg.session", "x")[:n], st.integers(0, 40)),
        st.text(min_size=1, max_size=2).map(lambda s: s * 5000),
    )
)
def test_a_bad_session_cookie_is_replaced_by_a_fresh_signed_one(
    gateway: InProcess, value: str
) -> None:
    header = cookie_header(cg_session=value)
    response = gateway.request("GET", "/_consent/state", headers={"cookie": header})
    assert_clean(response)
    if refused_as_bad_header(response, header) or refused_as_too_large(response, header):
        return
    assert response.status_code == 200
    issued = [h for h in response.headers.get_list("set-cookie") if h.startswith("cg_session=")]
    assert len(issued) == 1
    assert issued[0].split(";", 1)[0] != f"cg_session={value}"
    assert_nothing_unconsented_set(response)


@given(st.binary(max_size=400))
def test_any_bytes_in_the_cookie_header_are_survived(gateway: InProcess, raw: bytes) -> None:
    # In-process, bytes reach the app that no HTTP parser would pass (CR, LF, NUL):
    # whatever the gateway echoes into its own headers must still be clean.
    for path in ("/_consent/state", "/echo"):
        response = gateway.request("GET", path, headers={"cookie": raw + b"; _ga=1"})
        assert_clean(response)
        if refused_as_bad_header(response, raw):
            continue
        assert_nothing_unconsented_set(response)


@given(st.binary(max_size=100))
def test_any_bytes_in_the_host_header_are_survived(gateway: InProcess, raw: bytes) -> None:
    response = gateway.request("GET", "/echo", headers={"host": raw, "cookie": "_ga=1; _fbp=2"})
    assert_clean(response)
    if refused_as_bad_header(response, raw):
        return
    assert_nothing_unconsented_set(response)
    for header in response.headers.get_list("set-cookie"):
        domain = re.search(r";\s*domain=([^;]*)", header, re.IGNORECASE)
        assert domain is None or re.fullmatch(r"[a-z0-9.-]+", domain.group(1)), header


# -- the upstream's Set-Cookie ------------------------------------------------------------

_LATIN1 = st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f")
_TOKEN = "[!#$%&'*+.^_`|~0-9A-Za-z-]"
names = st.one_of(
    st.sampled_from(["_ga", "_ga_X1", "_gid", "_fbp", "fr", "theme", "lang", "IDE", "cg_session"]),
    st.sampled_from(["cg_consent", " _ga", "_ga ", "\t_fbp"]),
    st.from_regex(f"keep_{_TOKEN}{{0,8}}", fullmatch=True),
    st.from_regex(f"z{_TOKEN}{{0,12}}", fullmatch=True),
    st.text(_LATIN1, max_size=10).map(lambda s: "y" + s.replace(";", "").replace("=", "")),
)
_dates = st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(9999, 1, 1))
attributes = st.one_of(
    st.integers(-(10**12), 10**12).map(lambda n: f"Max-Age={n}"),
    st.text(_LATIN1, max_size=12).map(lambda t: f"Max-Age={t}"),
    _dates.map(lambda d: f"Expires={format_datetime(d.replace(tzinfo=UTC), usegmt=True)}"),
    _dates.map(lambda d: f"Expires={d:%d %b %Y %H:%M:%S}"),
    _dates.map(lambda d: f"expires={d:%A, %d-%b-%y %H:%M:%S} GMT"),
    st.text(_LATIN1, max_size=20).map(lambda t: f"Expires={t}"),
    st.sampled_from(["Path=/", "Path=/a", "Domain=gateway.test", "Domain=.gateway.test", "Secure"]),
    st.sampled_from(["HttpOnly", "SameSite=None", "Partitioned", "max-age=0", ""]),
    st.text(_LATIN1, max_size=20),
)
set_cookies = st.lists(
    st.builds(
        lambda name, value, attrs: "; ".join([f"{name}={value}", *attrs]),
        names,
        st.text(_LATIN1, max_size=20).map(lambda s: s.replace(";", "")),
        st.lists(attributes, max_size=5),
    ),
    min_size=1,
    max_size=6,
)


@given(set_cookies)
def test_before_consent_only_necessary_cookies_reach_the_browser(
    gateway: InProcess, headers: list[str]
) -> None:
    response = gateway.request("POST", "/set-cookies", json=headers)
    assert_clean(response)
    assert response.status_code == 200
    assert_nothing_unconsented_set(response)


def _lifetime_ok(header: str, now: float) -> bool:
    for attribute in header.split(";")[1:]:
        key, _, value = attribute.partition("=")
        key, value = key.strip().lower(), value.strip()
        if key == "max-age" and re.fullmatch(r"-?\d+", value) and int(value) > MAX_COOKIE_SECONDS:
            return False
        if key == "expires":
            # A browser reads dates more leniently than any parser here (RFC 6265
            # section 5.1.1), so a date we cannot read must not go out at all.
            try:
                when = parsedate_to_datetime(value).timestamp()
            except (TypeError, ValueError, IndexError, OverflowError):
                return False
            if when > now + MAX_COOKIE_SECONDS + 60:
                return False
    return True


@given(set_cookies)
def test_after_consent_no_cookie_outlives_thirteen_months(
    gateway: InProcess, headers: list[str]
) -> None:
    consent = sign(NEW_KEY, "cg.consent", "fuzz~1~analytics+marketing+preferences")
    response = gateway.request(
        "POST", "/set-cookies", json=headers, headers={"cookie": cookie_header(cg_consent=consent)}
    )
    assert_clean(response)
    now = time.time()
    for header in response.headers.get_list("set-cookie"):
        assert _lifetime_ok(header, now), header
        if set_cookie_name(header) == "cg_session":
            value = header.split(";", 1)[0].split("=", 1)[1]
            assert signed_by_us(value, "cg.session"), f"the upstream set a gateway cookie: {header}"
        else:
            assert set_cookie_name(header) != "cg_consent", header


def test_the_fuzz_upstream_is_what_the_tests_think(tmp_path: Path) -> None:
    # The oracle's own control: without the gateway, every cookie does arrive.
    with run_server(create_fuzz_upstream()) as upstream:
        response = httpx.post(upstream + "/set-cookies", json=["_ga=1; Max-Age=99999999999"])
    assert response.headers.get_list("set-cookie") == ["_ga=1; Max-Age=99999999999"]


# -- the parsers on their own ------------------------------------------------------------


@given(st.binary(max_size=300))
def test_set_cookie_readers_never_raise_and_keep_the_pair(raw: bytes) -> None:
    cookie_name(raw)
    path, domain = path_and_domain(raw)
    assert path.startswith("/") and ";" not in path + domain
    capped = cap_lifetime(raw, time.time())
    assert capped.split(b";", 1)[0] == raw.split(b";", 1)[0]


@given(st.text(max_size=300))
def test_cookie_header_parsing_round_trips(header: str) -> None:
    pairs = parse_cookie_header(header)
    assert all(name and "=" not in name and ";" not in value for name, value in pairs)
    assert parse_cookie_header(join_cookie_pairs(pairs)) == pairs
