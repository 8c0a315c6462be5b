"""The response cache key: SHA-256 over everything that decides the answer's bytes.

    sha256( json_sorted([VERSION, endpoint, shape, model, scope, body]) )

- ``VERSION`` changes whenever this derivation or the stored Entry changes, so old
  entries in a shared Redis are simply never found again (they expire by TTL).
- ``endpoint`` is the client dialect ("chat" = OpenAI Chat Completions, "messages" =
  Anthropic Messages): what is stored is the answer *as rendered* for that dialect,
  so an OpenAI answer is never replayed to an Anthropic client, nor the reverse.
- ``shape`` is how the answer was delivered: "unary", "stream", or "stream+usage"
  (an OpenAI stream with ``stream_options.include_usage``, whose bytes carry one more
  chunk; Anthropic streams always carry usage). ``stream`` and ``stream_options`` are
  removed from the body below, but the shape they select stays in the key because
  the stored bytes differ: a unary request never hits a recorded stream.
- ``model`` is the model name the client asked for (a wildcard route serves many).
- ``scope`` is who may share the answer (``scope_for``); never across organisations
  unless the config says ``share: all``.
- ``body`` is the client's parsed body (``ctx.raw``, after authorize may have written a
  granted max-tokens cap into it) minus ``EXCLUDED`` fields and top-level nulls,
  encoded as JSON with *sorted keys at every depth*, so a client's key order and
  null-vs-absent do not split the cache. Anything else the client sent, including
  fields we do not know, stays in the key: an unknown field can only cause a miss,
  never a wrong hit. (Number spelling is not normalised: ``1`` and ``1.0`` differ.)

Exact-match semantics is "the same request gets the same answer": a request with
``temperature > 0`` or ``n > 1`` is still cached, and its repeats get the first
sampled answer rather than a fresh sample. Models opt in per model for that reason.
A request carrying tools with side effects is the client's responsibility: the cache
replays the model's answer (including its tool calls); it never runs tools, but a
client that executes every tool call it receives will execute a replayed one again.
Clients that need a fresh answer send ``Cache-Control: no-cache`` (or ``no-store``).
"""

from __future__ import annotations

import hashlib
from typing import Any, Literal

import msgspec

VERSION = "sgc1"

# Fields that do not change the answer, with why:
#   stream, stream_options  delivery, not content (the delivery *shape* is keyed separately)
#   user                    OpenAI's end-user id for abuse tracking
#   metadata                OpenAI's stored-completion tags / Anthropic's metadata.user_id
EXCLUDED: frozenset[str] = frozenset({"stream", "stream_options", "user", "metadata"})

Share = Literal["caller", "org", "all"]

UNARY = "unary"
STREAM = "stream"
STREAM_USAGE = "stream+usage"

_encode = msgspec.json.Encoder(order="sorted").encode


def shape_for(stream: bool, include_usage: bool) -> str:
    if not stream:
        return UNARY
    return STREAM_USAGE if include_usage else STREAM


def scope_for(principal: Any, share: Share) -> str | None:
    """Who may be served an answer cached for ``principal``; None: nobody (do not cache).

    caller  the principal itself, and for an agent acting for a user, that pair
    org     everyone in the principal's organisation; a principal with no organisation
            (a key from the config file) falls back to "caller": there is no org to share with
    all     everyone (only for public, non-personal prompts)
    The org id is part of every non-"all" scope, so no scope spans two organisations.
    """
    if share == "all":
        return "all"
    if principal is None:
        return None  # an unidentified caller has no scope to keep answers in
    org = principal.org_id
    if share == "org" and org is not None:
        return "org:" + org
    acting = principal.acting_for
    user = acting.id if acting is not None else ""
    # A JSON array, not a joined string: no id can forge another scope with a separator.
    return _encode(("caller", org, principal.id, user)).decode()


def cache_key(endpoint: str, shape: str, model: str, scope: str, raw: dict[str, Any]) -> str:
    """The hex SHA-256 key for one request (see the module docstring)."""
    body = {k: v for k, v in raw.items() if v is not None and k not in EXCLUDED}
    return hashlib.sha256(_encode((VERSION, endpoint, shape, model, scope, body))).hexdigest()
