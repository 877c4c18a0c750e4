"""Websockets are relayed both ways, with the gateway's cookies kept from the upstream."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus
from websockets.typing import Subprotocol

from gateway.app import create_app
from tests.conftest import make_settings
from tests.servers import free_port, run_server


async def test_text_and_binary_frames_cross_both_ways(proxy: str) -> None:
    url = proxy.replace("http://", "ws://") + "/ws"
    async with connect(
        url,
        subprotocols=[Subprotocol("chat")],
        additional_headers={"cookie": "cg_session=x; sessionid=1; _ga=2"},
    ) as ws:
        assert ws.subprotocol == "chat"
        await ws.send("hello")
        assert await ws.recv() == "echo:hello|cookie:sessionid=1"
        await ws.send(b"\x01\x02\x03")
        assert await ws.recv() == b"\x03\x02\x01"
        for n in range(20):
            await ws.send(f"m{n}")
        replies = [await asyncio.wait_for(ws.recv(), 5) for _ in range(20)]
        assert replies[-1] == "echo:m19|cookie:sessionid=1"


async def test_refused_upstream_websocket_refuses_the_visitor(tmp_path: Path) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    with run_server(create_app(make_settings(closed, tmp_path))) as gateway:
        with pytest.raises(InvalidStatus) as refused:
            async with connect(gateway.replace("http://", "ws://") + "/ws"):
                pass
    assert refused.value.response.status_code == 403
