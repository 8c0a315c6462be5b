"""The response headers OpenAI sends with a JSON answer or an event stream."""

from __future__ import annotations

from switchgear.simulator.wire import Env, Headers


def json_headers(env: Env) -> Headers:
    return [
        ("content-type", "application/json"),
        ("x-request-id", env.ids.make("req_", 32)),
        ("openai-processing-ms", "1"),
        ("openai-version", "2020-10-01"),
        ("x-ratelimit-limit-requests", "10000"),
        ("x-ratelimit-remaining-requests", "9999"),
        ("x-ratelimit-reset-requests", "6ms"),
        ("x-ratelimit-limit-tokens", "30000000"),
        ("x-ratelimit-remaining-tokens", "29999000"),
        ("x-ratelimit-reset-tokens", "2ms"),
    ]


def stream_headers(extra: Headers | None = None) -> Headers:
    return [("content-type", "text/event-stream; charset=utf-8"), ("cache-control", "no-cache"), *(extra or [])]
