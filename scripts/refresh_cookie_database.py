"""Refresh the Open Cookie Database shipped in gateway/consent/open_cookie_database/.

The database (github.com/jkwakman/Open-Cookie-Database, Apache-2.0) is kept as
published: its CSV and LICENSE. This script fetches both at a commit (or reads them
from --from DIR), checks that the CSV still has the columns the gateway reads and
that its rows parse, writes them, and puts the commit in SOURCE.md.

Usage: .venv/bin/python scripts/refresh_cookie_database.py [--from DIR] [--commit SHA] [--out DIR]
"""

from __future__ import annotations

import argparse
import csv
import io
import re
import sys
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gateway.consent.cookie_database import FILE, parse_rows  # noqa: E402

REPOSITORY = "https://raw.githubusercontent.com/jkwakman/Open-Cookie-Database"
HERE = ROOT / "gateway" / "consent" / "open_cookie_database"
COLUMNS = {"Platform", "Category", "Cookie / Data Key name", "Domain", "Description"}
COLUMNS |= {"Retention period", "Wildcard match"}
MINIMUM_ROWS = 1000  # a truncated download must not replace the shipped file


def read(source: Path | None, commit: str, name: str) -> str:
    """One file of the database, from ``source`` or from GitHub at ``commit``."""
    if source is not None:
        return (source / name).read_text(encoding="utf-8")
    with urllib.request.urlopen(f"{REPOSITORY}/{commit}/{name}", timeout=30) as answer:  # noqa: S310
        return str(answer.read().decode("utf-8"))


def check(text: str) -> int:
    """The number of rows the gateway uses; a sentence when the file is not one it can read."""
    header = next(csv.reader(io.StringIO(text)), [])
    missing = COLUMNS - set(header)
    if missing:
        raise SystemExit(f"The CSV lacks the columns {sorted(missing)}: check its new layout.")
    rows = len(parse_rows(text))
    if rows < MINIMUM_ROWS:
        raise SystemExit(f"Only {rows} usable rows: a truncated download? Nothing written.")
    return rows


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="source", type=Path, help="read the files here")
    parser.add_argument("--commit", default="main", help="the database's commit to fetch")
    parser.add_argument("--out", type=Path, default=HERE, help="where the files go")
    args = parser.parse_args(argv)
    text = read(args.source, args.commit, FILE)
    licence = read(args.source, args.commit, "LICENSE")
    rows = check(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / FILE).write_text(text, encoding="utf-8", newline="")
    (args.out / "LICENSE").write_text(licence, encoding="utf-8")
    source = (args.source or HERE) / "SOURCE.md"
    if source.is_file():
        notes = source.read_text(encoding="utf-8")
        if args.source is None:
            notes = re.sub(r"commit\n[0-9a-f]{40}", f"commit\n{args.commit}", notes)
        (args.out / "SOURCE.md").write_text(notes, encoding="utf-8")
    print(f"{args.out / FILE}: {rows} cookies")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
