"""Operating the gateway: health checks, Prometheus metrics, logs and CPU priority.

health.py      /_consent/healthz and /_consent/readyz
metrics.py     plain counters on the hot path, Prometheus text at /metrics
logging.py     text or JSON log lines that never hold a full IP or a cookie value
priority.py    the event loop's thread first in line for the CPU
"""
