"""The admin listener's pages are never reachable through the public port."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.conftest import make_settings
from tests.servers import run_gateway


def test_the_dashboard_and_metrics_are_only_on_the_admin_listener(
    demo_site: str, tmp_path: Path
) -> None:
    with run_gateway(make_settings(demo_site, tmp_path)) as (public, admin):
        login = httpx.get(admin + "/login")
        assert login.status_code == 200 and 'type="password"' in login.text
        assert httpx.get(admin + "/metrics").status_code == 200
        for path in ("/login", "/metrics", "/_consent/readyz", "/_consent/admin/login"):
            answer = httpx.get(public + path)
            # Outside the prefix the site answers (the demo site has no such page);
            # inside it, the gateway's own 404. Never the dashboard or the metrics.
            assert answer.status_code == 404, path
            assert 'type="password"' not in answer.text and "cg_" not in answer.text
