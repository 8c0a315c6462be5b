"""The fixed upstream bodies the mocks serve and the request bodies wrk posts.

Shapes follow OpenAI's published chat.completion / chat.completion.chunk objects
(see /work/shared/specs/openai-openapi.yaml). Sizes are what the issue's rig uses:
a ~1 KB completion, and a 50-event stream of ~12.7 KB ending with a usage chunk
and ``data: [DONE]``.
"""

from __future__ import annotations

import json

MODEL = "gpt-4o-mini"
FINGERPRINT = "fp_0ba0d124f1"
CREATED = 1732270000
STREAM_EVENTS = 50  # every `data:` event, including the usage chunk and [DONE]

# What a client sends: small and realistic. wrk's Lua scripts embed these strings.
CHAT_REQUEST = {"model": "bench-chat", "messages": [{"role": "user", "content": "Hello, how are you?"}]}
STREAM_REQUEST = {
    "model": "bench-stream",
    "messages": [{"role": "user", "content": "Hello, how are you?"}],
    "stream": True,
    "stream_options": {"include_usage": True},
}
SLOW_REQUEST = {"model": "bench-slow", "messages": [{"role": "user", "content": "Hello, how are you?"}]}

_REPLY = (
    "Hello! I'm doing well, thank you for asking. I'm here and ready to help with whatever you need "
    "today, whether that's answering a question, drafting or editing some text, working through a "
    "piece of code, or just talking an idea over. How are you doing, and what can I help you with? "
    "If you have something specific in mind, feel free to share as much detail as you like and "
    "I'll do my best to give you a clear, useful answer."
)


def _dumps(obj: object) -> str:
    # OpenAI's wire bodies are compact JSON.
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def chat_completion() -> bytes:
    body = {
        "id": "chatcmpl-AWq9a1bqHJm3SQxG8yFtPZk7LrNzE",
        "object": "chat.completion",
        "created": CREATED,
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": _REPLY, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": 13,
            "completion_tokens": 96,
            "total_tokens": 109,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        },
        "system_fingerprint": FINGERPRINT,
    }
    return _dumps(body).encode()


def _chunk(delta: dict, finish: str | None, usage: dict | None = None, choices: bool = True) -> str:
    obj = {
        "id": "chatcmpl-AWq9b7TcN2xKpQ4mVbLrZs8eJhYdF",
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": MODEL,
        "system_fingerprint": FINGERPRINT,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}] if choices else [],
    }
    if usage is not None:
        obj["usage"] = usage
    return "data: " + _dumps(obj) + "\n\n"


def chat_stream() -> bytes:
    """50 events: role chunk, 46 content chunks, finish chunk, usage chunk, [DONE]."""
    words = _REPLY.split(" ")
    n_content = STREAM_EVENTS - 4
    # Spread the reply over the content chunks, a few tokens each, as a model would.
    per = -(-len(words) // n_content)
    pieces = []
    for i in range(n_content):
        part = words[i * per:(i + 1) * per] or ["!"]
        pieces.append((" " if i else "") + " ".join(part))
    events = [_chunk({"role": "assistant", "content": "", "refusal": None}, None)]
    events += [_chunk({"content": p}, None) for p in pieces]
    events.append(_chunk({}, "stop"))
    usage = {
        "prompt_tokens": 13,
        "completion_tokens": 96,
        "total_tokens": 109,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                      "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0},
    }
    events.append(_chunk({}, None, usage, choices=False))
    events.append("data: [DONE]\n\n")
    assert len(events) == STREAM_EVENTS
    return "".join(events).encode()


def request_json(req: dict) -> str:
    return _dumps(req)


if __name__ == "__main__":
    print(len(chat_completion()), "bytes chat.completion")
    s = chat_stream()
    print(len(s), "bytes stream,", s.count(b"data: "), "events")
