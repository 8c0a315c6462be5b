"""The vendor catalog: vendors as data (catalog.yaml), loaded once."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Literal

import msgspec
import yaml

AuthScheme = Literal["bearer", "x-api-key", "api-key", "x-goog-api-key", "sigv4", "none"]


class Vendor(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    id: str = ""
    format: str
    base_url: str | None = None
    auth: AuthScheme = "bearer"
    api_key_env: str | None = None
    headers: dict[str, str] = {}
    renames: dict[str, str] = {}
    unsupported: frozenset[str] = frozenset()
    unsupported_params: Literal["reject", "drop"] = "reject"
    extra_params: Literal["reject", "drop", "pass"] = "reject"
    local: bool = False


@cache
def load_catalog() -> dict[str, Vendor]:
    text = resources.files("switchgear.providers").joinpath("catalog.yaml").read_text()
    raw = yaml.safe_load(text)
    return {name: msgspec.convert({**entry, "id": name}, Vendor) for name, entry in raw.items()}


def auth_headers(scheme: AuthScheme, api_key: str | None) -> tuple[tuple[str, str], ...]:
    """Static credential headers for a vendor's auth scheme (SigV4 is signed per request)."""
    if not api_key or scheme in ("none", "sigv4"):
        return ()
    if scheme == "bearer":
        return (("authorization", f"Bearer {api_key}"),)
    return ((scheme, api_key),)
