"""Consented analytics: page views, visit length and navigation into ClickHouse.

events      an event on its way in, the visitor key, the encoding to bytes
steps       the named ingest steps and the drop reasons they count
bots        crawler, monitor, script and headless-browser detection
useragent   browser, OS and device, parsed once per user agent
writer      the bounded queue and background thread that insert batches
spool       the append-only file that keeps batches while ClickHouse is away
pageviews   the proxy observer that records server-side page views
beacon      POST /_consent/collect, the banner script's batches
journal     the memory-mapped file each batch goes through on its way to the writer
stale_days  days rolled up again when events for them arrive late
service     all of it assembled for create_app
"""
