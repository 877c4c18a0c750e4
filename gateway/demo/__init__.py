"""The bundled demo: a small website with the gateway in front of it."""
