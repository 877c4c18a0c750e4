"""The consent banner: its assets under the reserved prefix and its injection into HTML pages.

    options.py   parsers of the CG_BANNER_* settings
    assets.py    /_consent/banner.js and banner.css: versioned, compressed, ETag
    inject.py    where and how the tags go into a page, through gzip, br and deflate
    rewrite.py   the proxy's response hook that buffers an HTML page and injects
    service.py   ``Banner``: the above assembled from the settings

The banner itself is ``static/consent-banner/`` (plain JavaScript and CSS).
Kept free of imports so that ``gateway.settings`` can use ``options`` safely.
"""
