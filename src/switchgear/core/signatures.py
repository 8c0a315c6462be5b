"""Reasoning signatures tagged with the wire format that issued them.

Anthropic's thinking ``signature``, Bedrock's ``reasoningText.signature`` and Gemini's
``thoughtSignature`` are opaque tokens only the issuing vendor can verify; sent to
another vendor they are rejected (or at best ignored). A conversation can cross
vendors (fallback, a route change between turns), so canonical types never carry a
bare signature.

The convention: every signature in canonical types (``ThinkingPart.signature``,
``ReasoningDelta.signature``) is ``"{format}:{raw}"``, where ``format`` is the wire
format module that issued it (``FORMATS``) and ``raw`` is the vendor's token unchanged.

- Wire formats tag on the way in (``parse_response``, ``StreamParser``) with their
  own name, and on the way out send ``untag(own_name, sig)``: a signature from
  any other format counts as missing, and the part is handled as unsigned.
- Client dialects tag what clients send: a signature not already tagged is native
  to the client's dialect. When rendering, a signature native to the dialect is
  shown raw (so the next turn can pass through unchanged); a foreign one is shown
  tagged, opaque to the client, and recognised when it comes back.
- Pass-through (client dialect == wire format) moves raw bytes and never tags.

Only a known format name followed by ``:`` counts as a tag, so a raw token that
happens to contain ``:`` (base64 never does) is never mistaken for one.
"""

from __future__ import annotations

OPENAI_CHAT = "openai_chat"
ANTHROPIC_MESSAGES = "anthropic_messages"
GEMINI = "gemini"
BEDROCK_CONVERSE = "bedrock_converse"

FORMATS: frozenset[str] = frozenset({OPENAI_CHAT, ANTHROPIC_MESSAGES, GEMINI, BEDROCK_CONVERSE})
_PREFIX: dict[str, str] = {f: f + ":" for f in FORMATS}


def origin(sig: str | None) -> str | None:
    """The format that issued a tagged signature; None when ``sig`` is untagged or empty."""
    if not sig:
        return None
    fmt, sep, _ = sig.partition(":")
    return fmt if sep and fmt in FORMATS else None


def tag(fmt: str, sig: str) -> str:
    """``sig`` issued by ``fmt``, tagged. A signature already tagged with a known
    format is returned unchanged (tagging twice must not nest)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown signature format {fmt!r}")
    if origin(sig) is not None:
        return sig
    return f"{fmt}:{sig}"


def untag(fmt: str, sig: str | None) -> str | None:
    """The raw signature if ``sig`` was issued by ``fmt``; None when it is missing,
    untagged, empty, or from another format (the caller treats the part as unsigned)."""
    prefix = _PREFIX.get(fmt)
    if prefix is None:
        raise ValueError(f"unknown signature format {fmt!r}")
    if not sig or not sig.startswith(prefix):
        return None
    return sig[len(prefix) :] or None
