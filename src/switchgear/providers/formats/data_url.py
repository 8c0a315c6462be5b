"""``data:`` URLs of inline images, as clients put them in image URLs."""

from __future__ import annotations


def split_base64(url: str) -> tuple[str, str] | None:
    """``data:<media type>[;<parameter>…];base64,<data>`` -> (media type, data). The media
    type loses its parameters (vendors take a bare ``type/subtype``) and may be empty.
    None when the URL is not base64-encoded or has no data part; the caller checks
    ``startswith("data:")`` and words the error its vendor's way."""
    meta, comma, data = url.partition(",")
    if not comma or not meta.endswith(";base64"):
        return None
    return meta[5:-7].partition(";")[0], data
