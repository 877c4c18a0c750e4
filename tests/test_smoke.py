"""The gateway forwards a page of the demo site end to end."""

from __future__ import annotations

import httpx


def test_page_passes_through(gateway: str) -> None:
    response = httpx.get(gateway + "/about")
    assert response.status_code == 200
    assert "About us" in response.text
    assert response.cookies.get("cg_session")
