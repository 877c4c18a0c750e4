"""The consent banner: its assets under the reserved prefix and its injection into HTML pages.

    assets.py    /_consent/banner.js and banner.css: versioned, compressed, ETag
    inject.py    where and how the tags go into a page, through gzip, br and deflate
    rewrite.py   the proxy's response hook that buffers an HTML page and injects
    service.py   ``Banner``: the above assembled from the settings

The banner itself is ``static/consent-banner/`` (plain JavaScript and CSS); the
parsers of its settings are ``gateway/settings_banner.py``.
"""
