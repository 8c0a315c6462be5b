"""OpenAI Chat Completions, Embeddings and Models, and the Azure OpenAI variants.

Shapes follow the OpenAI API reference and its OpenAPI description
(``CreateChatCompletionResponse``, ``CreateChatCompletionStreamResponse``,
``CompletionUsage``, ``ErrorResponse``). Faithful details worth knowing:

- Unknown top-level parameters are refused ("Unrecognized request argument
  supplied: x"), as OpenAI does, so a gateway leaking fields is caught.
- ``response_format: json_object`` requires the word "json" in the messages.
- Tool messages must answer a preceding assistant ``tool_calls``, and every
  tool call must be answered before the next turn.
- Reasoning-model names (``o1``/``o3``/``o4``…, ``gpt-5``…) refuse
  ``max_tokens`` (use ``max_completion_tokens``) and a non-default temperature;
  other real model names (``gpt-4o``…) refuse ``reasoning_effort``. Names that
  are not OpenAI's (``sim-model``…) accept everything.
- ``reasoning_effort`` yields ``completion_tokens_details.reasoning_tokens`` and
  never reasoning text. Automatic prompt caching: a repeated prompt prefix of at
  least ``cache_min_tokens`` reports ``cached_tokens`` in 128-token steps.
- Streams: a role chunk, one token per content chunk, tool calls as an id/name
  chunk then argument fragments, a finish chunk per choice, choices interleaved
  when n > 1, ``usage: null`` on every chunk and a final ``choices: []`` usage
  chunk only with ``stream_options.include_usage``, an ``obfuscation`` field
  unless ``include_obfuscation`` is false, then ``data: [DONE]``.
- Azure: ``api-key`` header, ``api-version`` required (404 otherwise), its own
  ``{"error": {"code": "401", ...}}`` shapes for auth/404/429 (with
  ``retry-after-ms``), ``prompt_filter_results`` / ``content_filter_results``,
  a first stream chunk with empty ``choices``, no ``obfuscation``.

Modules: ``api`` (``OpenAIWire``: the border and the endpoints), ``errors`` (OpenAI's
and Azure's error shapes and messages), ``request`` and ``messages`` (what Chat
Completions accepts), ``chat`` (answers and streams), ``embeddings``, ``headers``.
"""

from switchgear.simulator.openai.api import MODELS, OpenAIWire
from switchgear.simulator.openai.chat import FINGERPRINT

__all__ = ["FINGERPRINT", "MODELS", "OpenAIWire"]
