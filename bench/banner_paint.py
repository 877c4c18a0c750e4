"""Whether the banner delays a page's first paint: Lighthouse on the demo site, direct and
through the gateway, side by side.

Run with ``scripts/bench banner_paint [--runs N] [--path /courses]``; ``scripts/bench``
installs npm ``lighthouse`` into ``.cache/lighthouse`` and Debian's chromium runs it. The
demo site runs in its own process and the gateway (``consent-gateway serve``) in another,
in front of it. Each run is a first visit (a fresh browser profile, so the banner shows)
under Lighthouse's default mobile profile (simulated slow 4G and a 4x slower CPU); the
direct and gateway runs take turns, so a busy machine weighs on both alike. Printed: first
and largest contentful paint, the median of the runs, for each and the difference.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.harness import free_port, gateway_process, wait_for

ROOT = Path(__file__).resolve().parent.parent
LIGHTHOUSE = ROOT / ".cache" / "lighthouse" / "node_modules" / ".bin" / "lighthouse"
CHROMIUM = "/usr/bin/chromium"
CHROME_FLAGS = (
    "--headless --no-sandbox --disable-gpu --disable-background-networking "
    "--disable-component-update --disable-sync --disable-quic --no-first-run "
    "--disable-default-apps --disable-extensions"
)
METRICS = {"FCP": "first-contentful-paint", "LCP": "largest-contentful-paint"}


@contextmanager
def demo_site() -> Iterator[str]:
    """The demo site under uvicorn in its own process, until exit."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "--factory", "gateway.demo.site:create_demo_site"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    process = subprocess.Popen(command)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for(url + "/")
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=20)


def lighthouse(url: str) -> dict[str, float]:
    """One Lighthouse run of ``url`` (default mobile profile): each metric in milliseconds."""
    command = [str(LIGHTHOUSE), url, "--quiet", "--output=json", "--output-path=stdout"]
    command += ["--only-categories=performance", f"--chrome-flags={CHROME_FLAGS}"]
    env = {**os.environ, "CHROME_PATH": CHROMIUM}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)
    if done.returncode != 0:
        sys.exit(f"lighthouse failed on {url}:\n{done.stderr[-2000:]}")
    audits = json.loads(done.stdout)["audits"]
    return {name: float(audits[key]["numericValue"]) for name, key in METRICS.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="Lighthouse runs for each (default 5)")
    parser.add_argument("--path", default="/courses", help="the demo page (default /courses)")
    args = parser.parse_args()
    if not LIGHTHOUSE.exists():
        sys.exit(f"{LIGHTHOUSE} is missing: scripts/bench banner_paint installs it with npm")
    runs: dict[str, list[dict[str, float]]] = {"direct": [], "gateway": []}
    with tempfile.TemporaryDirectory() as work, demo_site() as site:
        with gateway_process(site, Path(work)) as gateway:
            targets = {"direct": site + args.path, "gateway": gateway.url + args.path}
            for url in targets.values():  # warm both servers (imports, first connections)
                wait_for(url)
            for number in range(args.runs):
                for name, url in targets.items():
                    runs[name].append(lighthouse(url))
                print(f"run {number + 1}/{args.runs} done", file=sys.stderr)
    medians = {
        name: {metric: statistics.median(r[metric] for r in results) for metric in METRICS}
        for name, results in runs.items()
    }
    package = json.loads((LIGHTHOUSE.parents[1] / "lighthouse" / "package.json").read_text())
    print(
        f"Lighthouse {package['version']} mobile profile, demo {args.path}, "
        f"median of {args.runs} runs (ms)"
    )
    print(f"{'':<8}{'direct':>10}{'gateway':>10}{'difference':>12}")
    for metric in METRICS:
        direct, through = medians["direct"][metric], medians["gateway"][metric]
        print(f"{metric:<8}{direct:>10.0f}{through:>10.0f}{through - direct:>+12.0f}")
    for name, results in runs.items():  # Lighthouse's simulation varies from run to run
        for metric in METRICS:
            print(f"{name} {metric} runs: " + " ".join(f"{r[metric]:.0f}" for r in results))


if __name__ == "__main__":
    main()
