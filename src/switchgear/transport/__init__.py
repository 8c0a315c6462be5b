"""Upstream I/O: the pooled HTTP/1.1 client and the SSE decoder."""
