"""The consent banner: its assets under the reserved prefix and its injection into HTML pages.

    assets.py    /_consent/banner.js, banner.css and the rest: versioned, compressed, ETag
    csp.py       the tags under the page's Content-Security-Policy: its nonce, or a hash
    csp_report.py  the gateway's own policy per page (report-only or enforced) and its reports
    holdback.py  third-party tags in a page held back until their category is granted
    inject.py    where and how the tags go into a page, through gzip, br and deflate
    measure.py   the inline script's part that queues track() and loads measure.js
    consent_tools.py  a warning, once per tool, when pages carry a consent tool of their own
    rewrite.py   the proxy's response hook that buffers an HTML page and injects
    service.py   ``Banner``: the above assembled from the settings
    validators.py  the ETag and Last-Modified of pages with the banner, and the
                 visitor's conditional requests translated back for the upstream

The banner itself is ``static/consent-banner/`` (plain JavaScript and CSS); the
parsers of its settings are ``gateway/settings_banner.py``.
"""
