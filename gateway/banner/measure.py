"""What the page's inline script adds for measuring: ``consentGateway.track()``'s queue,
and ``measure.js`` loaded once the visitor has granted analytics.

``banner.js`` stays within its first-load budget: its API's ``track`` only queues
(``window.cgq``), as does the stand-in this script defines for the page's own
scripts that run before ``banner.js`` has loaded. It listens for the banner's
``consent:change`` event: analytics granted, it adds ``measure.js`` (with the page's
nonce), which sends what is queued and what follows, and records outbound link
clicks unless ``CG_OUTBOUND_LINKS=off``; analytics refused, the queue is dropped and
later calls too.
"""

from __future__ import annotations

import json


def measure_script(src: str, outbound: bool) -> bytes:
    """The inline JavaScript that queues ``track()`` calls and loads ``measure.js`` at ``src``."""
    source = json.dumps(src, ensure_ascii=True).replace("<", "\\u003c")
    return (
        ";(function(w,d,n){w.cgq=w.cgq||[];w.consentGateway=w.consentGateway||"
        "{track:function(){w.cgq.push(arguments)}};"
        "d.addEventListener('consent:change',function(e){"
        "if(!e.detail.categories.analytics){w.cgq={push:function(){}};return}"
        "if(w.cgm)return;w.cgm=1;var s=d.createElement('script');"
        f"s.src={source};s.nonce=n;s.dataset.outbound='{int(outbound)}';d.head.appendChild(s)"
        "})})(window,document,document.currentScript.nonce);"
    ).encode("ascii")
