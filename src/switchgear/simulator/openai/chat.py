"""A chat completion: the whole answer, or the stream of ``chat.completion.chunk``s."""

from __future__ import annotations

from typing import Any

from switchgear.simulator import plan, text
from switchgear.simulator.openai.errors import AZURE_CONTENT_FILTER, context_error, invalid
from switchgear.simulator.openai.headers import json_headers, stream_headers
from switchgear.simulator.openai.request import AZURE_EXTRA_PARAMS, CHAT_PARAMS, read_chat, reject_unknown, require_model
from switchgear.simulator.wire import Answer, Env, Frame, Reject, Stream, dumps

FINGERPRINT = "fp_5e1d2c3b4a"
_FINISH = {"stop": "stop", "stop_sequence": "stop", "length": "length", "tool_calls": "tool_calls",
           "content_filter": "content_filter"}  # fmt: skip
_SAFE = {"filtered": False, "severity": "safe"}
_FILTER_OK = {"hate": _SAFE, "self_harm": _SAFE, "sexual": _SAFE, "violence": _SAFE}
_FILTER_HIT = {**_FILTER_OK, "violence": {"filtered": True, "severity": "medium"}}
_PROMPT_FILTER = [{"prompt_index": 0, "content_filter_results": _FILTER_OK}]


def chat(env: Env, azure: bool, body: Any, model: str) -> Answer | Stream:
    if not isinstance(body, dict):
        raise invalid(f"Invalid type for body: expected an object, but got {type(body).__name__} instead.")
    reject_unknown(body, CHAT_PARAMS | AZURE_EXTRA_PARAMS if azure else CHAT_PARAMS)
    require_model(model, azure)
    config = env.config()
    ask, n, prompt_tokens, prefixes = read_chat(body, model)
    if prompt_tokens > config.context_window:
        raise context_error(prompt_tokens, config.context_window)
    if ask.mode == "content_filter" and azure:
        raise Reject(
            400,
            AZURE_CONTENT_FILTER,
            type=None,
            param="prompt",
            code="content_filter",
            extra={"status": 400, "innererror": {"code": "ResponsibleAIPolicyViolation", "content_filter_result": _FILTER_HIT}},
        )
    hit = env.cache.hit(prefixes.marks)
    cached = hit // 128 * 128 if hit >= max(config.cache_min_tokens, 1) else 0
    make_id = lambda: env.ids.make("call_", 24)  # noqa: E731
    replies = [plan.answer(ask, config.reply_tokens, make_id, i) for i in range(n)]
    usage = _usage(prompt_tokens, cached, replies)
    chat_id = env.ids.make("chatcmpl-", 29)
    logprobs = body.get("logprobs") is True
    top = body.get("top_logprobs") or 0
    if body.get("stream") is True:
        options = body.get("stream_options") or {}
        return _stream(env, azure, chat_id, model, replies, usage, logprobs, top, options)
    choices = []
    for i, r in enumerate(replies):
        message: dict[str, Any] = {
            "role": "assistant",
            "content": r.text if (r.text or not r.calls) and r.finish != "content_filter" else None,
            "refusal": None,
            "annotations": [],
        }
        if r.calls:
            message["tool_calls"] = [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments_json}}
                for c in r.calls
            ]
        choice: dict[str, Any] = {
            "index": i,
            "message": message,
            "logprobs": {"content": _logprobs(text.tokens(r.text), top), "refusal": None} if logprobs else None,
            "finish_reason": _FINISH[r.finish],
        }
        if azure:
            choice["content_filter_results"] = _FILTER_HIT if r.finish == "content_filter" else _FILTER_OK
        choices.append(choice)
    out: dict[str, Any] = {
        "id": chat_id,
        "object": "chat.completion",
        "created": env.now(),
        "model": model,
        "choices": choices,
        "usage": usage,
        "system_fingerprint": FINGERPRINT,
    }
    if azure:
        out["prompt_filter_results"] = _PROMPT_FILTER
    else:
        out["service_tier"] = "default"
    return Answer(200, json_headers(env), dumps(out), usage["completion_tokens"])


def malformed(stream: bool, azure: bool) -> Answer | Stream:
    """A body cut off mid-JSON (the ``malformed`` fault)."""
    if stream:
        first = _chunk(azure, "chatcmpl-malformed", "sim", 0, [_choice(0, {"role": "assistant", "content": ""})])
        frames = [Frame(b"data: " + dumps(first) + b"\n\n"), Frame(b'data: {"id": "chatcmpl-malformed", "cho\n\n', 1)]
        return Stream(stream_headers(), frames)
    return Answer(200, [("content-type", "application/json")], b'{"id": "chatcmpl-malformed", "object": "chat.comp')


def _chunk(azure: bool, chat_id: str, model: str, created: int, choices: list[Any]) -> dict[str, Any]:
    chunk: dict[str, Any] = {
        "id": chat_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "system_fingerprint": FINGERPRINT,
        "choices": choices,
    }
    if not azure:
        chunk["service_tier"] = "default"
    return chunk


def _stream(
    env: Env,
    azure: bool,
    chat_id: str,
    model: str,
    replies: list[plan.Reply],
    usage: dict[str, Any],
    logprobs: bool,
    top: int,
    options: dict[str, Any],
) -> Stream:
    created = env.now()
    include_usage = options.get("include_usage") is True
    obfuscate = not azure and options.get("include_obfuscation") is not False
    per_choice: list[list[tuple[dict[str, Any], int]]] = []
    for i, r in enumerate(replies):
        events: list[tuple[dict[str, Any], int]] = [(_choice(i, {"role": "assistant", "content": "", "refusal": None}), 0)]
        for piece, n in text.chunks(r.text, 1):
            choice = _choice(i, {"content": piece})
            if logprobs:
                choice["logprobs"] = {"content": _logprobs([piece], top), "refusal": None}
            if azure:
                choice["content_filter_results"] = _FILTER_OK
            events.append((choice, n))
        for index, call in enumerate(r.calls):
            head = {"index": index, "id": call.id, "type": "function", "function": {"name": call.name, "arguments": ""}}
            events.append((_choice(i, {"tool_calls": [head]}), 0))
            for fragment in text.split_json(call.arguments_json):
                delta = {"tool_calls": [{"index": index, "function": {"arguments": fragment}}]}
                events.append((_choice(i, delta), max(1, text.count_tokens(fragment))))
        finish = _choice(i, {}, _FINISH[r.finish])
        if azure:
            finish["content_filter_results"] = _FILTER_HIT if r.finish == "content_filter" else {}
        events.append((finish, 0))
        per_choice.append(events)
    frames: list[Frame] = []
    if azure:
        head = {"choices": [], "created": 0, "id": "", "model": "", "object": "", "prompt_filter_results": _PROMPT_FILTER}
        frames.append(Frame(b"data: " + dumps(head) + b"\n\n"))
    # Choices are interleaved round-robin, as the API does for n > 1.
    for step in range(max(len(e) for e in per_choice)):
        for events in per_choice:
            if step < len(events):
                choice, n = events[step]
                chunk = _chunk(azure, chat_id, model, created, [choice])
                if include_usage:
                    chunk["usage"] = None
                if obfuscate:
                    chunk["obfuscation"] = _obfuscation(choice)
                frames.append(Frame(b"data: " + dumps(chunk) + b"\n\n", n))
    if include_usage:
        chunk = _chunk(azure, chat_id, model, created, [])
        chunk["usage"] = usage
        if obfuscate:
            chunk["obfuscation"] = "x7Qz"
        frames.append(Frame(b"data: " + dumps(chunk) + b"\n\n"))
    frames.append(Frame(b"data: [DONE]\n\n"))
    return Stream(stream_headers(json_headers(env)[1:]), frames)


def _choice(index: int, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}


def _logprobs(pieces: list[str], top: int) -> list[dict[str, Any]]:
    out = []
    for piece in pieces:
        lp = text.logprob(piece)
        alternatives = [{"token": piece, "logprob": lp, "bytes": list(piece.encode())}]
        for k in range(1, top):
            alt = piece + "_" * k
            alternatives.append({"token": alt, "logprob": round(lp - 1.5 * k, 6), "bytes": list(alt.encode())})
        out.append({"token": piece, "logprob": lp, "bytes": list(piece.encode()), "top_logprobs": alternatives[:top]})
    return out


def _obfuscation(choice: dict[str, Any]) -> str:
    # Pads chunk sizes against length side channels; its value is random in the API.
    size = 16 - len(dumps(choice["delta"])) % 12
    return "aB3dE5gH7jK9mN1pQ"[:size]


def _usage(prompt: int, cached: int, replies: list[plan.Reply]) -> dict[str, Any]:
    completion = sum(r.output_tokens for r in replies)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": sum(r.reasoning_tokens for r in replies),
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }
