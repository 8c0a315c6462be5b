"""Providers: wire formats (``formats/``), the vendor catalog and auth signers.

Imports only ``switchgear.core`` (and the transport's pure SSE decoder)."""
