"""consent-gateway: a reverse proxy that makes cookie consent and privacy-first analytics true."""

__version__ = "0.1.0"
