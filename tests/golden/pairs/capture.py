"""Capture the upstream fixtures for the pair goldens from the simulator (run once,
by hand, when a fixture should change): `python -m tests.golden.pairs.capture`.

The captured bytes are committed; the pair tests never talk to the simulator, so a
change in the simulator cannot silently change what the adapters are checked on.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx2 as httpx

from switchgear.simulator import Simulator, SimulatorConfig

HERE = Path(__file__).parent / "upstream"
TOOL_SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
USER = "What is the weather in Oslo?"

REQUESTS = {
    "openai_chat": ("/v1/chat/completions", {
        "text": {"model": "gpt-4o", "messages": [{"role": "user", "content": USER}], "max_tokens": 60},
        "tools": {"model": "gpt-4o", "messages": [{"role": "user", "content": USER}],
                  "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": TOOL_SCHEMA}},
                            {"type": "function", "function": {"name": "get_time", "parameters": TOOL_SCHEMA}}]},
    }),
    "anthropic_messages": ("/v1/messages", {
        "text": {"model": "claude-sonnet-4-5", "max_tokens": 3000, "messages": [{"role": "user", "content": USER}],
                 "thinking": {"type": "enabled", "budget_tokens": 1024}},
        "tools": {"model": "claude-sonnet-4-5", "max_tokens": 300, "messages": [{"role": "user", "content": USER}],
                  "tools": [{"name": "get_weather", "input_schema": TOOL_SCHEMA},
                            {"name": "get_time", "input_schema": TOOL_SCHEMA}]},
    }),
    "gemini": ("/v1beta/models/gemini-2.5-flash:{verb}", {
        "text": {"contents": [{"role": "user", "parts": [{"text": USER}]}],
                 "generationConfig": {"thinkingConfig": {"includeThoughts": True, "thinkingBudget": 512}}},
        "tools": {"contents": [{"role": "user", "parts": [{"text": USER}]}],
                  "tools": [{"functionDeclarations": [{"name": "get_weather", "parametersJsonSchema": TOOL_SCHEMA},
                                                      {"name": "get_time", "parametersJsonSchema": TOOL_SCHEMA}]}]},
    }),
    "bedrock_converse": ("/model/anthropic.claude-3-5-sonnet-20240620-v1:0/{verb}", {
        "text": {"messages": [{"role": "user", "content": [{"text": USER}]}],
                 "inferenceConfig": {"maxTokens": 3000},
                 "additionalModelRequestFields": {"thinking": {"type": "enabled", "budget_tokens": 1024}}},
        "tools": {"messages": [{"role": "user", "content": [{"text": USER}]}],
                  "toolConfig": {"tools": [{"toolSpec": {"name": "get_weather", "inputSchema": {"json": TOOL_SCHEMA}}},
                                           {"toolSpec": {"name": "get_time", "inputSchema": {"json": TOOL_SCHEMA}}}]}},
    }),
}


def _path(fmt: str, template: str, stream: bool) -> str:
    if fmt == "gemini":
        return template.format(verb="streamGenerateContent?alt=sse" if stream else "generateContent")
    if fmt == "bedrock_converse":
        return template.format(verb="converse-stream" if stream else "converse")
    return template


async def main() -> None:
    async with Simulator(SimulatorConfig(seed=3)) as sim:
        async with httpx.AsyncClient(base_url=sim.url, timeout=10) as client:
            for fmt, (template, cases) in REQUESTS.items():
                out = HERE / fmt
                out.mkdir(parents=True, exist_ok=True)
                for case, body in cases.items():
                    for stream in (False, True):
                        payload = dict(body)
                        if stream and fmt in ("openai_chat", "anthropic_messages"):
                            payload["stream"] = True
                            if fmt == "openai_chat":
                                payload["stream_options"] = {"include_usage": True}
                        headers = {"anthropic-version": "2023-06-01"}
                        r = await client.post(_path(fmt, template, stream), json=payload, headers=headers)
                        r.raise_for_status()
                        ext = ("bin" if fmt == "bedrock_converse" else "sse") if stream else "json"
                        (out / f"{case}.{ext}").write_bytes(r.content)
                        print(fmt, case, "stream" if stream else "unary", len(r.content), "bytes")


if __name__ == "__main__":
    asyncio.run(main())
