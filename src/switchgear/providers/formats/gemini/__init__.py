"""Google Gemini API wire format (``generativelanguage.googleapis.com``, ``v1beta``).

Endpoints, relative to the target's base URL::

    POST /v1beta/models/{model}:generateContent
    POST /v1beta/models/{model}:streamGenerateContent?alt=sse
    POST /v1beta/models/{model}:batchEmbedContents

Auth is the ``x-goog-api-key`` header, already in ``target.headers``.

Where the canonical model and Gemini differ, and what we do about it:

- ``system``/``developer`` messages become ``systemInstruction`` (Gemini has one, so
  they are hoisted in order). Roles: assistant -> ``model``; user and tool -> ``user``.
  Consecutive contents of one role are merged, so a run of tool messages becomes one
  user content of ``functionResponse`` parts, as the function-calling guide shows.
- Tool call ids: ``generateContent`` normally returns ``functionCall`` without an id.
  We then synthesise ``call_<responseId>_<n>`` so OpenAI/Anthropic clients get one.
  Ids starting with ``call_`` are never sent upstream (they are ours, or OpenAI's);
  an id Gemini itself returned goes back verbatim in ``functionCall.id`` and
  ``functionResponse.id``. ``functionResponse.name`` is ``ToolResultPart.name`` or the
  name of the earlier call with that id.
- ``functionResponse.response`` is ``{"output": text}`` or ``{"error": text}`` when the
  tool failed: the reference says to use those keys. Images in a tool result follow
  the ``functionResponse`` as ``inlineData`` parts of the same user content.
- Images: base64 ``data`` / ``data:`` URLs -> ``inlineData {mimeType, data}``; any
  ``http(s)`` URL -> ``fileData {fileUri, mimeType?}`` (Files API URIs and, on models
  that fetch them, public URLs; the MIME type comes from the part or the URL's
  extension).
- Reasoning -> ``generationConfig.thinkingConfig {thinkingBudget, includeThoughts}``;
  an effort becomes a budget (``reasoning.EFFORT_BUDGET``); a budget of 0 turns thinking off.
  Thought parts (``thought: true``) come back as ThinkingPart / ReasoningDelta.
- Thought signatures (opaque, must be returned in the exact part they came on; on
  Gemini 3 the first ``functionCall`` of each step must carry one or the request is
  rejected). A signature on a ``functionCall`` or text part is carried as an *empty*
  ThinkingPart (stream: ``ReasoningDelta(signature=...)``) placed right before that
  part; a signature on a thought part stays on that ThinkingPart. Signatures are
  tagged ``gemini:`` on the way in and untagged on the way out (core.signatures). On
  the way back an empty Gemini-signed ThinkingPart attaches its signature to the next
  part. Thought text that is unsigned or signed by another vendor, and redacted
  thinking, are not sent back (Gemini reads nothing from them).
  When the first ``functionCall`` of a model turn has no signature (the client lost
  it, e.g. OpenAI clients, or the history came from another model) we send Google's
  documented placeholder ``skip_thought_signature_validator``.
- Streams: SSE ``data: {GenerateContentResponse}`` chunks, no terminator. The stream
  is complete once every candidate seen carried a ``finishReason``; the body ending
  before that is an UpstreamProtocolError. Each ``functionCall`` arrives whole, so it
  becomes one ToolCallDelta with the full arguments text.
- Usage: ``promptTokenCount`` (+ ``toolUsePromptTokenCount``) -> input, it already
  includes ``cachedContentTokenCount`` -> cached; ``candidatesTokenCount`` +
  ``thoughtsTokenCount`` -> output; ``thoughtsTokenCount`` -> reasoning.
- Errors: ``{"error": {code, message, status, details}}``. There is no structured
  signal for "context too long" (it is a plain 400 INVALID_ARGUMENT), so it stays an
  UpstreamRejected(400). A bad key is a 400 with ErrorInfo reason ``API_KEY_INVALID``:
  like 401/403 it becomes a 502 ``upstream_auth_failed`` (the gateway's credential,
  not the client's request, is wrong).
- Not supported: ``parallel_tool_calls`` (no switch), ``user``; ``Tool.strict`` and
  Anthropic ``cache_control`` hints have no Gemini equivalent and are not sent.

Modules: ``request`` (canonical -> body), ``contents`` (messages -> ``contents`` and
``systemInstruction``), ``wire`` (the shapes we decode), ``response``, ``stream``,
``errors``, ``embeddings``.
"""

from switchgear.providers.formats.gemini.contents import DUMMY_THOUGHT_SIGNATURE
from switchgear.providers.formats.gemini.embeddings import build_embeddings_request, parse_embeddings_response
from switchgear.providers.formats.gemini.errors import parse_error
from switchgear.providers.formats.gemini.request import SUPPORTED, build_request
from switchgear.providers.formats.gemini.response import parse_response, usage_from_body
from switchgear.providers.formats.gemini.stream import StreamParser
from switchgear.providers.formats.reasoning import EFFORT_BUDGET

name = "gemini"

__all__ = [
    "DUMMY_THOUGHT_SIGNATURE",
    "EFFORT_BUDGET",
    "SUPPORTED",
    "StreamParser",
    "build_embeddings_request",
    "build_request",
    "name",
    "parse_embeddings_response",
    "parse_error",
    "parse_response",
    "usage_from_body",
]
