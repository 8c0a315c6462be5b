"""OpenAI Chat Completions, client side: an OpenAI SDK client -> Switchgear -> back.

- ``parse_body`` is on every request's path (pass-through included): one JSON decode and
  ``isinstance``-class checks of the top-level fields we understand, errors naming the
  parameter OpenAI-style (``param``: ``"messages[2].content"``, ``"temperature"``).
- ``to_canonical`` runs only when the upstream speaks another dialect; it expects a body
  that ``parse_body`` accepted and validates everything nested, precisely.
- ``render_response`` / ``StreamRenderer`` / ``render_error`` write OpenAI shapes that
  validate against the published OpenAPI schemas.

Mapping notes (OpenAI -> canonical):
- ``max_completion_tokens`` and ``max_tokens`` both become ``max_tokens`` (the former wins).
- ``reasoning_effort``: ``minimal|low|medium|high`` -> ``Reasoning(effort)``; ``none`` ->
  ``Reasoning(budget_tokens=0)`` (no reasoning); ``xhigh`` -> ``high`` (canonical has no
  higher bucket: a documented loss).
- Legacy ``functions`` / ``function_call`` become ``tools`` / ``tool_choice``; legacy
  assistant ``function_call`` and ``function`` role messages become tool calls / results
  with synthesised ids (``call_fn_<message index>``). Responses always use ``tool_calls``.
- Assistant ``refusal`` (field or content part) becomes text; an assistant ``content`` of
  ``""`` (what many SDKs send beside tool calls) becomes no text part at all.
- A tool result's ``ToolResultPart.name`` is filled in from the assistant tool call with
  the same id (Gemini needs the function name).
- ``image_url`` data URLs (``data:<type>;base64,…``) become inline ``ImagePart(data,
  media_type)``; other URLs stay URLs.
- ``stream_options.include_obfuscation`` concerns only our own framing; we never add
  obfuscation, so it is honoured by construction.
- Unknown top-level fields with non-null values go to ``extra`` (the vendor's policy decides);
  a ``null`` value means "default" in OpenAI's API and is omitted.

Mapping notes (canonical -> OpenAI):
- Thinking is rendered as ``reasoning_content`` (message and delta), the non-standard
  field DeepSeek, vLLM and others use; it appears only when there is thinking. Signatures
  and redacted thinking have no OpenAI field and are dropped.
- ``stop_sequence`` and ``pause`` finish reasons become ``stop`` (the matched sequence is lost).

Modules: ``checks`` (parse_body and the validation helpers), ``request`` (to_canonical),
``messages`` and ``tools`` (its nested parts), ``response``, ``stream``, ``errors``.
"""

from switchgear.frontends.openai_chat.checks import parse_body
from switchgear.frontends.openai_chat.errors import render_error
from switchgear.frontends.openai_chat.request import to_canonical
from switchgear.frontends.openai_chat.response import render_response
from switchgear.frontends.openai_chat.stream import StreamRenderer

# frontends.embeddings validates its body with the same helpers, under these names.
from switchgear.frontends.openai_chat.checks import bad_type as _bad_type  # noqa: F401
from switchgear.frontends.openai_chat.checks import bad_value as _bad_value  # noqa: F401
from switchgear.frontends.openai_chat.checks import type_name as _type_name  # noqa: F401

__all__ = ["StreamRenderer", "parse_body", "render_error", "render_response", "to_canonical"]
