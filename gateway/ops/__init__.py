"""Operating the gateway: health checks, Prometheus metrics, logs and worker processes.

health.py      /_consent/healthz and /_consent/readyz
metrics.py     plain counters on the hot path, Prometheus text at /metrics
buckets.py     a histogram made of plain counters
request_id.py  the current request's id, for logs and error pages
logging.py     text or JSON log lines that never hold a full IP or a cookie value
workers.py     ``serve --workers N``: N processes on pre-bound sockets
"""
