"""Refresh the list of known referrers (search engines, social networks, AI assistants).

Matomo's community list (github.com/matomo-org/searchengine-and-social-list, CC0)
names the sites visitors come from ("Google", "Facebook", "ChatGPT"). Its three
YAML files are kept in gateway/stats/referrer_list/ as published; this script
fetches them (or reads them from --from DIR) and writes the lookup table the
gateway reads, gateway/stats/referrer_list/sources.json:

    {"hosts": {"facebook.com": "Facebook", ...},   a host, "www." removed
     "tld": {"google": "Google", ...}}             a host without its public suffix

An entry with a path (``x.com/i/grok``) or a ``{}`` inside the host is left out:
the gateway keeps the referring host only, so it could not tell them apart.

Usage: .venv/bin/python scripts/refresh_sources.py [--from DIR] [--commit SHA] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.request
from pathlib import Path
from typing import Any

import yaml

REPOSITORY = "https://raw.githubusercontent.com/matomo-org/searchengine-and-social-list"
FILES = ("AIAssistants.yml", "Socials.yml", "SearchEngines.yml")  # earlier files win a host
HERE = Path(__file__).resolve().parent.parent / "gateway" / "stats" / "referrer_list"


def hosts_of(entry: Any) -> list[str]:
    """The host patterns of one site: a list of hosts, or search engines' ``urls`` blocks."""
    found: list[str] = []
    for item in entry or []:
        if isinstance(item, str):
            found.append(item)
        elif isinstance(item, dict):
            found.extend(str(url) for url in item.get("urls") or [])
    return found


def table(documents: dict[str, Any]) -> dict[str, dict[str, str]]:
    """The lookup table from the parsed YAML documents, in :data:`FILES` order."""
    hosts: dict[str, str] = {}
    tld: dict[str, str] = {}
    for name in FILES:
        for site, entry in (documents[name] or {}).items():
            label = str(site).replace("%2B", "+")
            for pattern in hosts_of(entry):
                pattern = pattern.strip().lower()
                if pattern.startswith("www."):
                    pattern = pattern[4:]
                if pattern.startswith("{}."):
                    pattern = pattern[3:]
                if "/" in pattern or not pattern:
                    continue
                if pattern.endswith(".{}") and "{}" not in pattern[:-3]:
                    tld.setdefault(pattern[:-3], label)
                elif "{}" not in pattern:
                    hosts.setdefault(pattern, label)
    return {"hosts": dict(sorted(hosts.items())), "tld": dict(sorted(tld.items()))}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="source", type=Path, help="read the YAML files here")
    parser.add_argument("--commit", default="master", help="the list's commit to fetch")
    parser.add_argument("--out", type=Path, default=HERE, help="where sources.json goes")
    args = parser.parse_args(argv)
    texts: dict[str, str] = {}
    for name in FILES:
        if args.source:
            texts[name] = (args.source / name).read_text(encoding="utf-8")
        else:
            url = f"{REPOSITORY}/{args.commit}/{name}"
            with urllib.request.urlopen(url, timeout=30) as answer:  # noqa: S310 (https only)
                texts[name] = answer.read().decode("utf-8")
            (HERE / name).write_text(texts[name], encoding="utf-8")
    documents = {name: yaml.safe_load(text) for name, text in texts.items()}
    result = table(documents)
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / "sources.json"
    out.write_text(json.dumps(result, indent=0, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{out}: {len(result['hosts'])} hosts, {len(result['tld'])} names under any suffix")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
