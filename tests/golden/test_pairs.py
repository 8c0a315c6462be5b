"""Golden translation fixtures for every (client dialect x wire format) pair.

For each pair, through the canonical types and nothing else:
- request:  the client's body -> the upstream body that wire format receives
- response: a captured upstream response -> what the client receives
- stream:   a captured upstream stream, fed in small uneven pieces -> the client's SSE

Upstream fixtures were captured once from the simulator (tests/golden/pairs/capture.py).
Regenerate expectations after a deliberate change with SWITCHGEAR_UPDATE_GOLDEN=1 and
read the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import msgspec
import pytest

from switchgear.core.types import StreamError, UsageEvent
from switchgear.frontends.dialects import ANTHROPIC, OPENAI, Dialect
from switchgear.providers.formats.base import Target
from switchgear.runtime import FORMATS

HERE = Path(__file__).parent / "pairs"
UPDATE = os.environ.get("SWITCHGEAR_UPDATE_GOLDEN") == "1"
DIALECTS: dict[str, Dialect] = {"openai": OPENAI, "anthropic": ANTHROPIC}
TARGETS = {
    "openai_chat": Target(provider="p", vendor="openai", format="openai_chat", base_url="https://api.example/v1",
                          model="gpt-4o", headers=(("authorization", "Bearer up"),),
                          renames=(("max_tokens", "max_completion_tokens"),)),
    "anthropic_messages": Target(provider="p", vendor="anthropic", format="anthropic_messages",
                                 base_url="https://api.example", model="claude-sonnet-4-5",
                                 headers=(("x-api-key", "up"), ("anthropic-version", "2023-06-01"))),
    "gemini": Target(provider="p", vendor="gemini", format="gemini", base_url="https://api.example",
                     model="gemini-2.5-flash", headers=(("x-goog-api-key", "up"),)),
    "bedrock_converse": Target(provider="p", vendor="bedrock", format="bedrock_converse",
                               base_url="https://bedrock-runtime.us-east-1.amazonaws.com",
                               model="anthropic.claude-3-5-sonnet-20240620-v1:0", options={"region": "us-east-1"}),
}
PAIRS = [(d, f) for d in DIALECTS for f in TARGETS]


def _check(path: Path, actual: Any) -> None:
    text = json.dumps(actual, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    if UPDATE or not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        if not UPDATE:
            pytest.fail(f"golden {path} was missing and has been written: review it")
    assert json.loads(path.read_text()) == json.loads(text), f"differs from {path}"


def _stable(obj: Any) -> Any:
    """Blank out what is random per run (generated ids, timestamps)."""
    if isinstance(obj, dict):
        return {k: ("<id>" if k == "id" and isinstance(v, str) and k not in ("tool_call_id",) else
                    "<ts>" if k in ("created",) else _stable(v)) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_stable(v) for v in obj]
    return obj


def _sse_events(data: bytes) -> list[Any]:
    events = []
    for block in data.decode().split("\n\n"):
        if not block.strip():
            continue
        ev: dict[str, Any] = {}
        for line in block.split("\n"):
            name, _, value = line.partition(": ")
            if name == "data":
                ev["data"] = value if value == "[DONE]" else _stable(json.loads(value))
            elif name == "event":
                ev["event"] = value
        events.append(ev)
    return events


@pytest.mark.parametrize(("dialect", "fmt"), PAIRS)
def test_request(dialect: str, fmt: str) -> None:
    d = DIALECTS[dialect]
    raw = d.parse_body((HERE / "clients" / f"{dialect}.json").read_bytes())
    for stream in (False, True):
        raw["stream"] = stream
        canonical = d.to_canonical(dict(raw))
        module = FORMATS[fmt]
        target = TARGETS[fmt]
        if fmt == "openai_chat" and dialect == "anthropic":
            target = msgspec.structs.replace(target, unsupported_params="drop")  # thinking/top_k have no OpenAI field
        up = module.build_request(canonical, target)
        _check(HERE / "expected" / f"{dialect}__{fmt}__request{'_stream' if stream else ''}.json", {
            "method": up.method, "path": up.path, "headers": sorted(h for h in up.headers if h[0] != "content-length"),
            "body": json.loads(up.body),
        })


@pytest.mark.parametrize(("dialect", "fmt"), PAIRS)
@pytest.mark.parametrize("case", ["text", "tools"])
def test_response(dialect: str, fmt: str, case: str) -> None:
    module = FORMATS[fmt]
    parsed = module.parse_response((HERE / "upstream" / fmt / f"{case}.json").read_bytes(), TARGETS[fmt])
    out = DIALECTS[dialect].render_response(parsed, "client-model")
    _check(HERE / "expected" / f"{dialect}__{fmt}__{case}_response.json", _stable(json.loads(out)))


@pytest.mark.parametrize(("dialect", "fmt"), PAIRS)
@pytest.mark.parametrize("case", ["text", "tools"])
def test_stream(dialect: str, fmt: str, case: str) -> None:
    module = FORMATS[fmt]
    ext = "bin" if fmt == "bedrock_converse" else "sse"
    data = (HERE / "upstream" / fmt / f"{case}.{ext}").read_bytes()
    parser = module.StreamParser(TARGETS[fmt])
    d = DIALECTS[dialect]

    class Ctx:  # what a renderer reads from the request context
        model = "client-model"
        include_usage = True

    renderer = d.stream_renderer(Ctx())  # type: ignore[arg-type]
    out = b""
    usage_seen = False
    step = 7
    pieces = [data[i:i + step] for i in range(0, len(data), step)]  # uneven network reads
    events = [ev for piece in pieces for ev in parser.feed(piece)] + parser.close()
    for ev in events:
        assert not isinstance(ev, StreamError), ev.error
        usage_seen |= isinstance(ev, UsageEvent)
        out += renderer.render(ev)
    out += renderer.done()
    assert usage_seen, "every wire format reports usage in its stream"
    _check(HERE / "expected" / f"{dialect}__{fmt}__{case}_stream.json", _sse_events(out))
