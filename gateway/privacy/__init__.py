"""Visitors' rights and retention: see, export, erase, withdraw; the one-month promise proven.

texts.py      the privacy page's words in en, fr, de, es, cy, and Accept-Language
store.py      one visitor's rows: read, export (JSON, CSV), erase from every table
erasure.py    the erasure entry, the erasure itself, the operator's erasure
jobs.py       the running gateway's erasures: one at a time, a bounded queue
purge.py      waiting until the parts an erasure replaced are gone from disk
page.py       /_consent/privacy, its export and erase routes
retention.py  each table's TTL and oldest row; shortening the analytics retention
notice.py     the generated privacy notice (Markdown, HTML)
commands.py   consent-gateway erase | export | retention | notice
"""
