"""The reverse proxy: HTTP and websocket forwarding to the one configured upstream."""
