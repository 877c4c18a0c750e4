"""How many bytes the consent banner costs a visitor, beside the limit and other banners.

Run with ``scripts/bench banner_size`` (or ``python -m bench.banner_size``). Each file
is measured as the gateway serves it (``gateway/banner/assets.py`` compresses them
the same way): raw, gzip level 9 and brotli quality 11, each file on its own, as
the browser fetches them. The limit is 6 KB (6144 bytes) gzipped for the two
together. The other banners' figures are those of the banner issue (minified and
gzipped, JavaScript and CSS, from their own distributions).
"""

from __future__ import annotations

import gzip
from pathlib import Path

import brotli

from gateway.banner.assets import FIRST_LOAD, FIRST_LOAD_BUDGET, STATIC_DIR

LIMIT = FIRST_LOAD_BUDGET
FILES = FIRST_LOAD
OTHERS = {
    "orestbida/cookieconsent v3": 15.5 * 1024,
    "tarteaucitron": 60 * 1024,
    "Klaro": 69 * 1024,
}


def sizes(folder: Path = STATIC_DIR) -> dict[str, tuple[int, int, int]]:
    """Raw, gzip and brotli bytes of each file."""
    result = {}
    for name in FILES:
        body = (folder / name).read_bytes()
        result[name] = (
            len(body),
            len(gzip.compress(body, compresslevel=9, mtime=0)),
            len(brotli.compress(body, quality=11)),
        )
    return result


def main() -> None:
    measured = sizes()
    print(f"{'file':<12}{'raw':>8}{'gzip':>8}{'brotli':>8}")
    for name, (raw, gz, br) in measured.items():
        print(f"{name:<12}{raw:>8}{gz:>8}{br:>8}")
    totals = [sum(column) for column in zip(*measured.values(), strict=True)]
    print(f"{'together':<12}{totals[0]:>8}{totals[1]:>8}{totals[2]:>8}")
    print(f"gzip / limit ({LIMIT} bytes): {totals[1] / LIMIT:.3f}")
    for other, size in OTHERS.items():
        print(f"{other}: {size / 1024:.1f} KB gzipped, {size / totals[1]:.1f}x ours")


if __name__ == "__main__":
    main()
