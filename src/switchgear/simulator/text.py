"""Deterministic text: token counting, replies, ids, embeddings, signatures.

Token rule (the same for every vendor, so tests can predict usage exactly):
a token is a run of word characters (``\\w+``) or a single other non-space
character, together with the whitespace before it. ``"Hello, world!"`` is four
tokens: ``Hello`` ``,`` `` world`` ``!``. Joining a text's tokens gives the text
back minus trailing whitespace, so streamed deltas concatenate to the full reply.
An image counts ``IMAGE_TOKENS``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import random
import re
import struct
from itertools import cycle, islice

_TOKEN = re.compile(r"\s*(?:\w+|[^\w\s])")
IMAGE_TOKENS = 85
FALLBACK_SOURCE = "Hello from the Switchgear simulator."
_ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
# Signs thinking blocks so the simulator can check they come back unmodified, as the
# real APIs do. Not a secret: the simulator is a test double.
_SIGNING_KEY = b"switchgear-simulator-thinking"


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text)


def count_tokens(text: str) -> int:
    if not text:
        return 0
    return sum(1 for _ in _TOKEN.finditer(text))


def take(pieces: list[str], n: int) -> str:
    return "".join(pieces[:n])


def compose(prefix: str, source: str, length: int) -> str:
    """``prefix`` followed by the source's tokens, repeated as needed, ``length`` tokens in all."""
    head = tokens(prefix)
    if length <= len(head):
        return take(head, length)
    body = tokens(source) or tokens(FALLBACK_SOURCE)
    body[0] = " " + body[0].lstrip()
    need = length - len(head)
    # Every repetition starts with a space so the words do not run together.
    looped = [p if i % len(body) or i == 0 else " " + p.lstrip() for i, p in enumerate(islice(cycle(body), need))]
    return "".join(head) + "".join(looped)


def cut_at_stop(text: str, stops: list[str]) -> tuple[str, str | None]:
    """The text before the earliest stop sequence, and that sequence (or None)."""
    best = -1
    found = None
    for s in stops:
        if not s:
            continue
        i = text.find(s)
        if i >= 0 and (best < 0 or i < best):
            best, found = i, s
    if found is None:
        return text, None
    return text[:best], found


def trim(text: str, max_tokens: int | None) -> tuple[str, bool]:
    """The text cut to ``max_tokens`` tokens, and whether it was cut."""
    if max_tokens is None:
        return text, False
    pieces = tokens(text)
    if len(pieces) <= max_tokens:
        return text, False
    return take(pieces, max_tokens), True


def chunks(text: str, per: int) -> list[tuple[str, int]]:
    """The text split into stream deltas of ``per`` tokens: (delta, token count)."""
    pieces = tokens(text)
    out = []
    for i in range(0, len(pieces), per):
        part = pieces[i : i + per]
        out.append(("".join(part), len(part)))
    if out:
        # Trailing whitespace is not a token; keep it on the last delta so the text survives.
        consumed = sum(len(p) for p in pieces)
        if consumed < len(text):
            last, n = out[-1]
            out[-1] = (last + text[consumed:], n)
    return out


def split_json(text: str, parts: int = 3) -> list[str]:
    """A JSON text in roughly equal fragments, as vendors stream tool arguments."""
    if len(text) <= 1:
        return [text]
    size = max(1, math.ceil(len(text) / parts))
    return [text[i : i + size] for i in range(0, len(text), size)]


class Ids:
    """Vendor-looking ids from a seeded counter: deterministic for a given seed and
    request order, distinct within a run."""

    __slots__ = ("_seed", "_n")

    def __init__(self, seed: int) -> None:
        self._seed = seed
        self._n = 0

    def make(self, prefix: str, length: int) -> str:
        self._n += 1
        digest = hashlib.sha256(f"{self._seed}:{self._n}".encode()).digest()
        num = int.from_bytes(digest, "big")
        chars = []
        for _ in range(length):
            num, r = divmod(num, 62)
            chars.append(_ALNUM[r])
        return prefix + "".join(chars)


def sign(text: str) -> str:
    mac = hmac.new(_SIGNING_KEY, text.encode(), hashlib.sha256).digest()
    # Real signatures are long opaque base64; length matters to size-sensitive code paths.
    return base64.b64encode(b"SIM1" + mac + hashlib.sha512(mac).digest()).decode()


def signature_ok(text: str, signature: str) -> bool:
    return hmac.compare_digest(sign(text), signature)


def embedding(text: str, dims: int) -> list[float]:
    """A unit vector that depends only on the text and the size."""
    rng = random.Random(hashlib.sha256(text.encode()).digest())
    values = [rng.uniform(-1.0, 1.0) for _ in range(dims)]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    # Rounded through float32, as vendors return them.
    return [struct.unpack("<f", struct.pack("<f", v / norm))[0] for v in values]


def embedding_base64(values: list[float]) -> str:
    return base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode()


def logprob(piece: str) -> float:
    """A stable, plausible log probability for a token."""
    h = hashlib.blake2s(piece.encode(), digest_size=2).digest()
    return -round(int.from_bytes(h, "big") / 65535 * 2.5, 6)


def prefix_key(parent: bytes, part: bytes) -> bytes:
    return hashlib.blake2b(parent + part, digest_size=16).digest()
