"""AWS Signature Version 4 for upstream requests (Bedrock), by botocore's own signer.

We do not hand-roll SigV4: ``botocore.auth.SigV4Auth`` computes the canonical
request, the scope and the signature exactly as every AWS SDK does. What is ours is
only the glue: which URL and headers are signed, and handing the result back as an
``UpstreamRequest``.

Every header of the request is signed (bar botocore's unsigned list, e.g.
``user-agent``), and ``host`` is signed as given: the transport must send exactly these
headers, the body unchanged, and ``Host: {host}``. The signature covers the body
hash and the time (``x-amz-date``), so a retry re-signs its freshly built request.

``credentials`` is a ``botocore.credentials.Credentials`` (static, or refreshable:
we take a frozen snapshot per request). A refreshable provider may do network I/O
when it refreshes, so run refreshes off the event loop; static keys never block.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

from switchgear.providers.formats.base import Target, UpstreamRequest

SERVICE = "bedrock"

# Headers the signer sets; stale copies (a re-signed request) are replaced.
_SIGNER_HEADERS = frozenset({"authorization", "x-amz-date", "x-amz-security-token", "host"})


class SigV4Signer:
    """Everything per target worked out once: region, URL prefix. ``sign`` is per request."""

    __slots__ = ("region", "service", "_url_prefix", "_host")

    def __init__(self, target: Target, host: str, service: str = SERVICE) -> None:
        region = target.options.get("region")
        if not region:
            raise ValueError(f"provider '{target.provider}': SigV4 needs options.region")
        parts = urlsplit(target.base_url)
        self.region = str(region)
        self.service = service
        self._host = host
        # Scheme matters to botocore (payload hashing); the base URL's path prefix is
        # part of the signed path.
        self._url_prefix = f"{parts.scheme or 'https'}://{host}{parts.path.rstrip('/')}"

    def sign(self, req: UpstreamRequest, credentials: Any) -> UpstreamRequest:
        frozen = credentials.get_frozen_credentials() if hasattr(credentials, "get_frozen_credentials") else credentials
        headers = {k: v for k, v in req.headers if k.lower() not in _SIGNER_HEADERS}
        aws = AWSRequest(method=req.method, url=self._url_prefix + req.path, headers=headers, data=req.body)
        aws.headers["host"] = self._host
        SigV4Auth(frozen, self.service, self.region).add_auth(aws)
        out = [(k.lower(), v) for k, v in aws.headers.items() if k.lower() != "host"]
        return UpstreamRequest(method=req.method, path=req.path, headers=out, body=req.body, stream=req.stream)


def sign_request(req: UpstreamRequest, target: Target, host: str, credentials: Any) -> UpstreamRequest:
    """Return ``req`` with ``x-amz-date``, ``authorization`` (and ``x-amz-security-token``
    for session credentials) added. For repeated use keep a ``SigV4Signer`` per target."""
    return SigV4Signer(target, host).sign(req, credentials)
