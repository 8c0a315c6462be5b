"""OpenAI Chat Completions wire format, provider side: Switchgear -> any upstream that
speaks ``POST /v1/chat/completions`` (OpenAI, Azure OpenAI, vLLM, Ollama, Groq, Mistral,
DeepSeek, Together, Fireworks, OpenRouter, llama.cpp …). Vendors differ only in data
carried by ``Target``: base URL, headers, ``renames``, ``unsupported``, ``options``.

Translation choices and their losses (canonical -> OpenAI), stated once here:

- ``ThinkingPart`` / ``RedactedThinkingPart`` in assistant history are dropped. Chat
  Completions has no input field for prior reasoning (OpenAI keeps reasoning items only in
  its Responses API), and DeepSeek documents a 400 when ``reasoning_content`` is sent back
  in input messages. Signatures therefore cannot survive an OpenAI hop.
- ``TextPart.cache_control`` is dropped: OpenAI caches prompts automatically.
- Assistant text and tool calls lose their relative order: OpenAI has one ``content`` and
  one ``tool_calls`` list per message.
- ``ToolResultPart.is_error`` has no OpenAI field and is dropped. Images inside a tool
  result cannot go in a ``tool`` message (text only), so they follow the run of tool
  messages in one ``user`` message, in order.
- ``Reasoning.budget_tokens`` without an effort becomes an effort bucket (see
  ``reasoning.effort_for_budget``); a budget of 0 means "no reasoning" -> ``"none"``.
- ``ResponseFormat`` json_schema without a name gets ``"response"`` (OpenAI requires one).
- ``top_k`` is not an OpenAI parameter, so it is not in ``SUPPORTED`` (the vendor's
  unsupported-parameter policy decides), even for vLLM which would accept it.

Reading responses, vendor reasoning fields are accepted as ``ThinkingPart`` /
``ReasoningDelta``: ``reasoning_content`` (DeepSeek, vLLM) and ``reasoning`` (OpenRouter,
Ollama, newer vLLM). ``refusal`` text becomes a ``TextPart`` / ``TextDelta`` (canonical
has no refusal part). A vLLM ``stop_reason`` string marks a matched stop sequence.

Modules: ``request`` (canonical -> body), ``wire`` (the response shapes we decode),
``response``, ``stream`` (translated streaming), ``passthrough`` (same dialect in and
out), ``errors``, ``embeddings``.
"""

from switchgear.providers.formats.openai_chat.embeddings import build_embeddings_request, parse_embeddings_response
from switchgear.providers.formats.openai_chat.errors import parse_error
from switchgear.providers.formats.openai_chat.passthrough import PassthroughStream, build_passthrough
from switchgear.providers.formats.openai_chat.request import SUPPORTED, build_request
from switchgear.providers.formats.openai_chat.response import parse_response, usage_from_body, usage_from_response
from switchgear.providers.formats.openai_chat.stream import StreamParser

name = "openai_chat"

__all__ = [
    "SUPPORTED",
    "PassthroughStream",
    "StreamParser",
    "build_embeddings_request",
    "build_passthrough",
    "build_request",
    "name",
    "parse_embeddings_response",
    "parse_error",
    "parse_response",
    "usage_from_body",
    "usage_from_response",
]
