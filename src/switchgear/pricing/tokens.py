"""Token counts for limits and metering: safe upper bounds, and honest estimates.

**Upper bounds** (``chat_input_upper_bound``, ``embeddings_input_upper_bound``,
``output_upper_bound``) feed the worst-case reservation before a call. They must never
under-count and must cost microseconds, so they count bytes, not tokens:

- Byte-level BPE tokenizers (OpenAI's tiktoken encodings, Claude's) never emit a token
  that covers less than one byte of text, so tokens <= UTF-8 bytes. SentencePiece with
  byte fallback (Gemini) can add one dummy-prefix token per segment: hence
  ``PART_OVERHEAD`` per part. (A tokenizer that applied an expanding Unicode
  normalisation such as NFKC could exceed this; none of the priced vendors is known to.)
- Chat templates add a few tokens per message (OpenAI documents 3-4, plus 3 to prime the
  reply): ``MESSAGE_OVERHEAD`` and ``REQUEST_OVERHEAD`` cover that with room to spare.
- Tools: the definitions are counted as their JSON bytes (OpenAI renders them into a
  shorter TypeScript-like form; Anthropic and Gemini into JSON) plus ``TOOL_OVERHEAD``
  each, plus ``TOOLS_OVERHEAD`` once for the tool-use system prompt the vendor injects
  (Anthropic documents up to 346 tokens for Claude 4 models). A JSON response schema is
  counted likewise.
- Images are not text: an inline image's base64 bytes and an image URL are not counted;
  each image costs ``image_tokens_upper(model)`` instead. The default (8,192) covers
  OpenAI's tile- and patch-priced models (at most 1,445 and 3,779 tokens), Claude
  (about 1,600 for the largest image it keeps) and Gemini 2.5's 258-token tiles up to
  31 tiles; gpt-4o-mini bills an image at up to 48,169 tokens and has its own figure.
  Image size is not inspected, so this is the one documented assumption of the bound.
- Not counted: fields outside the canonical request (``extra``), signatures of thinking
  blocks (opaque, not model input), and audio/file inputs the canonical types do not carry.

How loose: English prose and code average 3.5-4.5 bytes a token, so the text part of
the bound is about 4x the real count (1.5-3x for CJK text, ~1x only for pathological
input). A reservation is settled to the actual cost afterwards, so looseness only makes
admission stricter near a budget's limit; it never bills anyone.

**Estimates** (``count_tokens``, ``estimate_chat_usage``) are for a stream that ended
without upstream usage (client disconnect, cut connection). They use OpenAI's o200k_base
encoding through tiktoken — exact for OpenAI's current models (``exact_for``), an
approximation for everyone else — and the figure is always marked ``estimated``.
tiktoken downloads its encodings on first use and this machine cannot, so the encoding
file ships with the package (``data/o200k_base.tiktoken.gz``, 1.7 MB) and is verified
against the SHA-256 that tiktoken itself pins for it before use. It is loaded lazily
(0.3-0.5 s, about 80 MB resident after load) on the first estimate, in a worker thread when
called from async code; nothing is paid by a process that never estimates.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import hashlib
import threading
from collections.abc import Sequence
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING

import msgspec

from switchgear.core.types import (
    ChatRequest,
    EmbeddingsRequest,
    ImagePart,
    RedactedThinkingPart,
    TextPart,
    ThinkingPart,
    ToolCallPart,
    ToolResultPart,
    Usage,
)
from switchgear.providers.formats.reasoning import (
    EFFORT_BUDGET,
    MIN_CLAUDE_BUDGET,
    requested_budget,
)

if TYPE_CHECKING:
    import tiktoken

REQUEST_OVERHEAD = 16  # reply priming and request framing
MESSAGE_OVERHEAD = 8  # role and message delimiters
PART_OVERHEAD = 4  # part delimiters; a SentencePiece dummy prefix
TOOLS_OVERHEAD = 512  # the tool-use system prompt a vendor adds when tools are present
TOOL_OVERHEAD = 32  # per tool definition, beyond its JSON
SCHEMA_OVERHEAD = 64  # a JSON response schema's framing
IMAGE_TOKENS_UPPER = 8_192
IMAGE_TOKENS_ESTIMATE = 1_000  # a typical detailed image, for estimates only
DEFAULT_OUTPUT_CEILING = 128_000  # when neither max_tokens nor the model's ceiling is known

# Models that bill images far above the default bound: (model id prefix, tokens).
# gpt-4o-mini: 2,833 base + 5,667 per 512px tile, at most 8 tiles.
_IMAGE_TOKENS_BY_PREFIX: tuple[tuple[str, int], ...] = (("gpt-4o-mini", 48_169),)

# OpenAI model families whose own tokenizer is o200k_base (gpt-4, gpt-3.5 and the
# text-embedding models use cl100k_base, which is not shipped: they get o200k counts).
_O200K_PREFIXES = ("gpt-4o", "chatgpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "o1", "o3", "o4", "gpt-oss", "codex-")

_O200K_FILE = "o200k_base.tiktoken.gz"
# The hash tiktoken (tiktoken_ext/openai_public.py) pins for o200k_base.tiktoken.
_O200K_SHA256 = "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"
# tiktoken's o200k_base split pattern and special tokens (tiktoken 0.14.0, verbatim).
_O200K_PATTERN = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)
_O200K_SPECIAL = {"<|endoftext|>": 199999, "<|endofprompt|>": 200018}

_INLINE_MAX_CHARS = 8_192  # shorter texts are counted on the event loop (~0.2 ms)


# ---- upper bounds (hot path) ------------------------------------------------------------


def utf8_len(s: str) -> int:
    """UTF-8 length of ``s`` without encoding ASCII text (lone surrogates count 3 bytes)."""
    return len(s) if s.isascii() else len(s.encode("utf-8", "surrogatepass"))


def image_tokens_upper(model: str) -> int:
    """The most one image can cost on the upstream ``model`` (see the module notes)."""
    for prefix, tokens in _IMAGE_TOKENS_BY_PREFIX:
        if model.startswith(prefix):
            return tokens
    return IMAGE_TOKENS_UPPER


def chat_input_upper_bound(req: ChatRequest, image_tokens: int = IMAGE_TOKENS_UPPER) -> int:
    """Input tokens ``req`` can be billed for, never fewer (bytes, not tokens; see above)."""
    n = REQUEST_OVERHEAD
    for m in req.messages:
        n += MESSAGE_OVERHEAD
        if m.name:
            n += utf8_len(m.name)
        for p in m.parts:
            n += PART_OVERHEAD
            if isinstance(p, TextPart):
                n += utf8_len(p.text)
            elif isinstance(p, ImagePart):
                n += image_tokens
            elif isinstance(p, ToolCallPart):
                n += utf8_len(p.id) + utf8_len(p.name) + utf8_len(p.arguments)
            elif isinstance(p, ToolResultPart):
                n += _tool_result(p, image_tokens)
            elif isinstance(p, ThinkingPart):
                n += utf8_len(p.text)
            elif isinstance(p, RedactedThinkingPart):
                n += utf8_len(p.data)  # ciphertext outgrows its plaintext
    if req.tools:
        n += TOOLS_OVERHEAD
        for tool in req.tools:
            n += TOOL_OVERHEAD + utf8_len(tool.name) + len(msgspec.json.encode(tool.parameters))
            if tool.description:
                n += utf8_len(tool.description)
    if req.tool_choice is not None and req.tool_choice.name:
        n += utf8_len(req.tool_choice.name)
    rf = req.response_format
    if rf is not None and rf.schema is not None:
        n += SCHEMA_OVERHEAD + len(msgspec.json.encode(rf.schema))
        n += utf8_len(rf.name or "") + utf8_len(rf.description or "")
    return n


def embeddings_input_upper_bound(req: EmbeddingsRequest) -> int:
    """Input tokens of an embeddings request, never fewer: bytes of text, or token ids."""
    n = 0
    for item in req.input:
        n += (utf8_len(item) if isinstance(item, str) else len(item)) + 1
    return n


def output_upper_bound(req: ChatRequest, ceiling: int | None) -> int:
    """Output tokens ``req`` can be billed for: ``max_tokens`` or the model's ``ceiling``
    (``DEFAULT_OUTPUT_CEILING`` when unknown), times ``n``.

    With thinking requested, a wire format may send the thinking budget on top of the
    client's max_tokens (Claude needs budget < max_tokens; formats.reasoning), so the
    largest budget a format can send is added; the ceiling, when known, caps it all.
    """
    per_choice = req.max_tokens if req.max_tokens is not None else (ceiling or DEFAULT_OUTPUT_CEILING)
    r = req.reasoning
    if r is not None and r.budget_tokens != 0:
        budget = requested_budget(r)
        per_choice = max(per_choice, 1) + max(EFFORT_BUDGET["medium"] if budget is None else budget, MIN_CLAUDE_BUDGET)
    if ceiling is not None:
        per_choice = min(per_choice, ceiling)
    return max(per_choice, 0) * max(req.n or 1, 1)


def _tool_result(p: ToolResultPart, image_tokens: int) -> int:
    n = utf8_len(p.tool_call_id) + (utf8_len(p.name) if p.name else 0)
    for c in p.content:
        n += PART_OVERHEAD + (utf8_len(c.text) if isinstance(c, TextPart) else image_tokens)
    return n


# ---- estimates (after a stream lost its usage) ------------------------------------------


def exact_for(model: str) -> bool:
    """Whether ``count_tokens`` is the model's own tokenizer (OpenAI o200k_base models)."""
    return model.startswith(_O200K_PREFIXES)


def encoding_loaded() -> bool:
    return _encoding.cache_info().currsize > 0


def count_tokens(text: str) -> int:
    """o200k_base tokens of ``text`` (special-token text counts as plain text).

    Blocks for the first load (~0.5 s): from async code use ``count_tokens_async``.
    """
    return len(_o200k().encode_ordinary(text)) if text else 0


async def count_tokens_async(text: str) -> int:
    """``count_tokens`` off the event loop when the encoding must load or the text is long."""
    if not text:
        return 0
    if encoding_loaded() and len(text) <= _INLINE_MAX_CHARS:
        return count_tokens(text)
    return await asyncio.to_thread(count_tokens, text)


async def warm() -> None:
    """Load the encoding in a worker thread now (e.g. at startup), not at first use."""
    if not encoding_loaded():
        await asyncio.to_thread(_o200k)


async def estimate_chat_usage(
    req: ChatRequest,
    output_text: str,
    reported: Usage | None = None,
    image_tokens: int = IMAGE_TOKENS_ESTIMATE,
) -> Usage:
    """Usage of a chat call whose upstream never reported (all of) it; ``estimated``.

    ``output_text`` is everything the model streamed, every choice of it (text, visible
    reasoning, tool-call names and arguments). Figures ``reported`` upstream win over counted ones (Anthropic
    reports input tokens up front). Hidden reasoning (OpenAI o-series) was never streamed
    and cannot be counted: such an estimate is low.
    """
    have_input = reported is not None and reported.input_tokens > 0
    prompt = "" if have_input else "\n".join(_prompt_texts(req))
    if encoding_loaded() and len(prompt) + len(output_text) <= _INLINE_MAX_CHARS:
        counted_in, counted_out = count_tokens(prompt), count_tokens(output_text)
    else:
        counted_in, counted_out = await asyncio.to_thread(_count_pair, prompt, output_text)
    if have_input:
        assert reported is not None
        input_tokens = reported.input_tokens
    else:
        images = sum(_images(m.parts) for m in req.messages)
        input_tokens = counted_in + 4 * len(req.messages) + 3 + images * image_tokens
    out = max(counted_out, reported.output_tokens if reported is not None else 0)
    return Usage(
        input_tokens=input_tokens,
        output_tokens=out,
        cached_input_tokens=reported.cached_input_tokens if reported is not None else 0,
        cache_write_tokens=reported.cache_write_tokens if reported is not None else 0,
        reasoning_tokens=min(reported.reasoning_tokens, out) if reported is not None else 0,
        estimated=True,
    )


def _count_pair(a: str, b: str) -> tuple[int, int]:
    return count_tokens(a), count_tokens(b)


def _prompt_texts(req: ChatRequest) -> list[str]:
    texts: list[str] = []
    for m in req.messages:
        texts.append(m.role)
        for p in m.parts:
            if isinstance(p, (TextPart, ThinkingPart)):
                texts.append(p.text)
            elif isinstance(p, ToolCallPart):
                texts.extend((p.name, p.arguments))
            elif isinstance(p, ToolResultPart):
                texts.extend(c.text for c in p.content if isinstance(c, TextPart))
    for tool in req.tools or ():
        texts.append(msgspec.json.encode({"name": tool.name, "description": tool.description,
                                          "parameters": tool.parameters}).decode())
    return texts


def _images(parts: Sequence[object]) -> int:
    n = 0
    for p in parts:
        if isinstance(p, ImagePart):
            n += 1
        elif isinstance(p, ToolResultPart):
            n += sum(1 for c in p.content if isinstance(c, ImagePart))
    return n


_LOAD_LOCK = threading.Lock()


def _o200k() -> tiktoken.Encoding:
    if encoding_loaded():
        return _encoding()
    with _LOAD_LOCK:  # one load, however many threads ask at once
        return _encoding()


@cache
def _encoding() -> tiktoken.Encoding:
    import tiktoken  # imported on first use: a process that never estimates never pays

    raw = gzip.decompress(resources.files("switchgear.pricing").joinpath("data", _O200K_FILE).read_bytes())
    digest = hashlib.sha256(raw).hexdigest()
    if digest != _O200K_SHA256:
        raise RuntimeError(f"{_O200K_FILE}: SHA-256 {digest} does not match tiktoken's {_O200K_SHA256}")
    ranks = {base64.b64decode(token): int(rank) for token, rank in (line.split() for line in raw.splitlines() if line)}
    return tiktoken.Encoding(
        name="o200k_base", pat_str=_O200K_PATTERN, mergeable_ranks=ranks, special_tokens=_O200K_SPECIAL
    )
