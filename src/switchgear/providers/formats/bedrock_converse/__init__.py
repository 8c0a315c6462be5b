"""AWS Bedrock Runtime Converse / ConverseStream wire format.

Endpoints, relative to ``https://bedrock-runtime.{region}.amazonaws.com``::

    POST /model/{modelId}/converse
    POST /model/{modelId}/converse-stream   (application/vnd.amazon.eventstream)

Requests are SigV4-signed by ``providers.sigv4`` after they are built (service
``bedrock``), unless the target authenticates with a Bedrock API key (a bearer
``authorization`` header in ``target.headers``).

Shapes follow the service model botocore ships (``bedrock-runtime`` 2023-09-30).
Where the canonical model and Converse differ:

- ``system``/``developer`` messages are hoisted into ``system`` text blocks. Roles must
  alternate, so consecutive messages of one role are merged; ``tool`` messages become
  ``toolResult`` blocks in a user message. Anthropic ``cache_control`` on a text part
  becomes a ``cachePoint`` block right after it (``ttl`` "1h" kept).
- Images: base64 only (``image {format, source {bytes}}``, bytes base64 in JSON);
  http(s) URLs cannot be fetched by Converse -> UnsupportedParameter.
- Reasoning (Claude on Bedrock) -> ``additionalModelRequestFields.thinking
  {type: enabled, budget_tokens}``; an effort becomes a budget (``reasoning.EFFORT_BUDGET``, at
  least 1024); budget 0 -> ``{type: disabled}``. Claude needs the budget below
  ``maxTokens``, so as in ``anthropic_messages`` maxTokens becomes budget + the
  client's max_tokens when that is not above the budget, and budget +
  ``options.default_max_tokens`` (4096) when the client gave none.
  ``top_k`` -> ``additionalModelRequestFields.top_k``. Reasoning blocks go back only
  when signed by Bedrock (Claude rejects unsigned ones, and other vendors'
  signatures); redacted ones go back verbatim. Signatures are tagged
  ``bedrock_converse:`` on the way in and untagged on the way out (core.signatures).
- ``response_format`` json_schema -> ``outputConfig.textFormat`` (Converse structured
  output, schema sent as a JSON string). ``json_object`` has no Converse equivalent:
  rejected or dropped per the target's unsupported-parameter policy.
- ``tool_choice`` none has no Converse equivalent: without tool blocks in the history
  the tools are simply not sent; with them (Converse then requires ``toolConfig``) it
  follows the unsupported-parameter policy (reject, or drop = send tools, auto).
- With stop sequences we ask for ``additionalModelResponseFieldPaths ["/stop_sequence"]``
  (the AWS reference's own example), so Claude's matched sequence comes back.
- Not supported: seed, n, penalties, logprobs, parallel_tool_calls, user.
- Streams are AWS event-stream frames, decoded by botocore's EventStreamBuffer (CRC
  checked). Complete after ``messageStop``; ``metadata`` (usage) follows it. A body
  that ends before ``messageStop`` is an UpstreamProtocolError; ``messageStop``
  without ``metadata`` is accepted with unknown usage. Exception frames become
  StreamError with the matching error.
- Usage: ``inputTokens`` excludes cache reads and writes (AWS prompt-caching
  semantics), so input = inputTokens + cacheReadInputTokens + cacheWriteInputTokens.
- Errors: the type from ``x-amzn-ErrorType`` (or the body's ``__type``), message from
  ``{"message": ...}``. "Input too long" has no structured signal (a plain
  ValidationException) and stays an UpstreamRejected(400).

Modules: ``request`` (canonical -> body), ``messages`` (canonical messages -> Converse
blocks), ``wire`` (the shapes we decode), ``response``, ``stream``, ``errors``.
"""

from switchgear.providers.formats.bedrock_converse.errors import parse_error
from switchgear.providers.formats.bedrock_converse.request import SUPPORTED, build_request
from switchgear.providers.formats.bedrock_converse.response import parse_response, usage_from_body
from switchgear.providers.formats.bedrock_converse.stream import StreamParser
from switchgear.providers.formats.reasoning import EFFORT_BUDGET

name = "bedrock_converse"

__all__ = [
    "EFFORT_BUDGET",
    "SUPPORTED",
    "StreamParser",
    "build_request",
    "name",
    "parse_error",
    "parse_response",
    "usage_from_body",
]
