"""The names the statistics show: sources from the shipped list, browsers, systems, devices.

The mapping runs inside ClickHouse (the real engine, chdb), on stored values as the
ingest steps write them; the list is the one the package ships, made by
scripts/refresh_sources.py from Matomo's files beside it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.analytics.useragent import parse_user_agent
from gateway.stats.names import BROWSERS, DEVICES, LIST, SYSTEMS, renamed, source
from gateway.storage import Storage
from tests.chdb import migrated_storage
from tests.plausible_reference import AGENTS

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def storage() -> Storage:
    return migrated_storage()


def _shown(storage: Storage, expression: str, value: str) -> str:
    sql = f"SELECT {expression} FROM (SELECT {{v:String}} AS v)"
    return str(storage.connect().query(sql, parameters={"v": value}).result_rows[0][0])


@pytest.mark.parametrize(
    ("host", "name"),
    [
        ("", "Direct / None"),
        ("www.google.com", "Google"),
        ("google.co.uk", "Google"),
        ("images.google.de", "Google Images"),
        ("l.facebook.com", "Facebook"),
        ("chatgpt.com", "ChatGPT"),
        ("news.ycombinator.com", "Hacker News"),
        ("t.co", "Twitter"),
        ("www.bing.com", "Bing"),
        ("duckduckgo.com", "DuckDuckGo"),
        ("www.example.co.uk", "example.co.uk"),  # not on the list: the host, without www.
        ("1.2.3.4", "1.2.3.4"),
    ],
)
def test_sources_by_name(storage: Storage, host: str, name: str) -> None:
    assert _shown(storage, source("v"), host) == name


def test_browser_os_and_device_as_plausible_names_them(storage: Storage) -> None:
    for agent in AGENTS:
        parsed = parse_user_agent(agent.user_agent)
        assert _shown(storage, renamed("v", BROWSERS), parsed.browser) == agent.browser
        assert _shown(storage, renamed("v", SYSTEMS), parsed.os) == agent.os
        assert _shown(storage, renamed("v", DEVICES), parsed.device) == agent.device


def test_the_shipped_list_is_made_from_the_shipped_files(tmp_path: Path) -> None:
    """The refresh procedure in referrer_list/SOURCE.md, run offline on the files it ships."""
    done = subprocess.run(
        [sys.executable, "scripts/refresh_sources.py", "--from", str(LIST.parent),
         "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    made = json.loads((tmp_path / "sources.json").read_text())
    assert made == json.loads(LIST.read_text())
    assert made["hosts"]["chatgpt.com"] == "ChatGPT" and made["tld"]["google"] == "Google"
    for name in ("LICENSE", "SOURCE.md", "SearchEngines.yml", "Socials.yml", "AIAssistants.yml"):
        assert (LIST.parent / name).is_file()
