"""SigV4 signing of Bedrock requests.

The signature comes from botocore. To check it independently, this file carries a
second, minimal SigV4 computation written from the AWS spec (hashlib + hmac only),
first proven against AWS's published test-suite vectors, then used to recompute the
signature botocore put on our requests.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from urllib.parse import quote

import pytest
from botocore.credentials import Credentials, ReadOnlyCredentials

from switchgear.providers.formats.base import Target, UpstreamRequest
from switchgear.providers.sigv4 import SigV4Signer, sign_request

# ---- the independent reference -----------------------------------------------------------

EXAMPLE_KEY = "AKIDEXAMPLE"
EXAMPLE_SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def reference_signature(
    *,
    method: str,
    canonical_uri: str,
    canonical_query: str,
    headers: dict[str, str],
    body: bytes,
    secret: str,
    region: str,
    service: str,
) -> tuple[str, str]:
    """(signed_headers, signature) per the SigV4 spec; ``headers`` are the signed ones."""
    names = sorted(h.lower() for h in headers)
    lower = {k.lower(): " ".join(v.split()) for k, v in headers.items()}
    canonical_headers = "".join(f"{n}:{lower[n]}\n" for n in names)
    signed = ";".join(names)
    canonical_request = "\n".join(
        [method, canonical_uri, canonical_query, canonical_headers, signed, hashlib.sha256(body).hexdigest()]
    )
    amz_date = lower["x-amz-date"]
    scope = f"{amz_date[:8]}/{region}/{service}/aws4_request"
    string_to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical_request.encode()).hexdigest()]
    )
    key = _hmac(f"AWS4{secret}".encode(), amz_date[:8])
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    return signed, hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()


@pytest.mark.parametrize(
    ("method", "query", "expected"),
    [
        # aws-sig-v4-test-suite: get-vanilla, post-vanilla, get-vanilla-query-order-key-case
        ("GET", "", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
        ("POST", "", "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"),
        ("GET", "Param1=value1&Param2=value2", "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"),
    ],
)
def test_reference_reproduces_the_published_aws_vectors(method: str, query: str, expected: str) -> None:
    signed, signature = reference_signature(
        method=method,
        canonical_uri="/",
        canonical_query=query,
        headers={"Host": "example.amazonaws.com", "X-Amz-Date": "20150830T123600Z"},
        body=b"",
        secret=EXAMPLE_SECRET,
        region="us-east-1",
        service="service",
    )
    assert signed == "host;x-amz-date"
    assert signature == expected


# ---- our signer --------------------------------------------------------------------------

HOST = "bedrock-runtime.us-west-2.amazonaws.com"
TARGET = Target(
    provider="bedrock",
    vendor="bedrock",
    format="bedrock_converse",
    base_url=f"https://{HOST}",
    model="anthropic.claude-3-haiku-20240307-v1:0",
    options={"region": "us-west-2"},
)
BODY = b'{"messages":[{"role":"user","content":[{"text":"Hello"}]}]}'
REQ = UpstreamRequest(
    method="POST",
    path="/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse",
    headers=[("content-type", "application/json"), ("x-custom", "  a   b ")],
    body=BODY,
)
_AUTH = re.compile(r"^AWS4-HMAC-SHA256 Credential=([^,]+), SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$")


def _parse_auth(headers: list[tuple[str, str]]) -> tuple[str, list[str], str]:
    values = [v for k, v in headers if k == "authorization"]
    assert len(values) == 1
    m = _AUTH.match(values[0])
    assert m, values[0]
    return m.group(1), m.group(2).split(";"), m.group(3)


def _recompute(signed: UpstreamRequest, host: str, path_prefix: str, secret: str, region: str) -> tuple[str, str]:
    sent = dict(signed.headers)
    names = _parse_auth(signed.headers)[1]
    headers = {n: (host if n == "host" else sent[n]) for n in names}
    # Non-S3 services sign the path URI-encoded once more (so "%3A" is signed as "%253A").
    return reference_signature(
        method=signed.method,
        canonical_uri=quote(path_prefix + signed.path, safe="/~"),
        canonical_query="",
        headers=headers,
        body=signed.body,
        secret=secret,
        region=region,
        service="bedrock",
    )


def test_signature_matches_an_independent_computation() -> None:
    signed = sign_request(REQ, TARGET, HOST, Credentials(EXAMPLE_KEY, EXAMPLE_SECRET))
    credential, names, signature = _parse_auth(signed.headers)
    amz_date = dict(signed.headers)["x-amz-date"]
    assert re.fullmatch(r"\d{8}T\d{6}Z", amz_date)
    assert credential == f"{EXAMPLE_KEY}/{amz_date[:8]}/us-west-2/bedrock/aws4_request"
    assert names == ["content-type", "host", "x-amz-date", "x-custom"]
    assert "x-amz-security-token" not in dict(signed.headers)
    assert _recompute(signed, HOST, "", EXAMPLE_SECRET, "us-west-2") == (";".join(names), signature)


def test_session_token_is_sent_and_signed() -> None:
    signed = sign_request(REQ, TARGET, HOST, Credentials(EXAMPLE_KEY, EXAMPLE_SECRET, "session-token-xyz"))
    _, names, signature = _parse_auth(signed.headers)
    assert dict(signed.headers)["x-amz-security-token"] == "session-token-xyz"
    assert {"host", "x-amz-date", "x-amz-security-token"} <= set(names)
    assert _recompute(signed, HOST, "", EXAMPLE_SECRET, "us-west-2")[1] == signature


def test_tampering_with_the_body_breaks_the_signature() -> None:
    signed = sign_request(REQ, TARGET, HOST, ReadOnlyCredentials(EXAMPLE_KEY, EXAMPLE_SECRET, None))
    signature = _parse_auth(signed.headers)[2]
    tampered = UpstreamRequest(signed.method, signed.path, signed.headers, BODY.replace(b"Hello", b"Hellp"))
    assert _recompute(tampered, HOST, "", EXAMPLE_SECRET, "us-west-2")[1] != signature


def test_request_is_otherwise_unchanged_and_host_is_left_to_the_transport() -> None:
    signed = sign_request(REQ, TARGET, HOST, Credentials(EXAMPLE_KEY, EXAMPLE_SECRET))
    assert (signed.method, signed.path, signed.body, signed.stream) == (REQ.method, REQ.path, REQ.body, REQ.stream)
    names = [k for k, _ in signed.headers]
    assert names[:2] == ["content-type", "x-custom"] and "host" not in names
    assert REQ.headers == [("content-type", "application/json"), ("x-custom", "  a   b ")]  # input untouched


def test_re_signing_replaces_the_old_signature() -> None:
    creds = Credentials(EXAMPLE_KEY, EXAMPLE_SECRET, "t1")
    once = sign_request(REQ, TARGET, HOST, creds)
    twice = sign_request(once, TARGET, HOST, Credentials(EXAMPLE_KEY, EXAMPLE_SECRET, "t2"))
    keys = [k for k, _ in twice.headers]
    for name in ("authorization", "x-amz-date", "x-amz-security-token"):
        assert keys.count(name) == 1
    assert dict(twice.headers)["x-amz-security-token"] == "t2"
    assert _recompute(twice, HOST, "", EXAMPLE_SECRET, "us-west-2")[1] == _parse_auth(twice.headers)[2]


def test_base_url_prefix_and_port_are_signed() -> None:
    host = "127.0.0.1:8443"
    target = Target(
        provider="p",
        vendor="bedrock",
        format="bedrock_converse",
        base_url=f"https://{host}/bedrock",
        model="m",
        options={"region": "eu-central-1"},
    )
    signer = SigV4Signer(target, host)
    signed = signer.sign(REQ, Credentials(EXAMPLE_KEY, EXAMPLE_SECRET))
    credential, _, signature = _parse_auth(signed.headers)
    assert "/eu-central-1/bedrock/aws4_request" in credential
    assert _recompute(signed, host, "/bedrock", EXAMPLE_SECRET, "eu-central-1")[1] == signature
    assert _recompute(signed, host, "", EXAMPLE_SECRET, "eu-central-1")[1] != signature


def test_region_is_required() -> None:
    target = Target(provider="p", vendor="bedrock", format="bedrock_converse", base_url="https://x", model="m")
    with pytest.raises(ValueError, match="region"):
        sign_request(REQ, target, "x", Credentials(EXAMPLE_KEY, EXAMPLE_SECRET))
