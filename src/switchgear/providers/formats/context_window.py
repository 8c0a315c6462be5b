"""The one place where an error is classified by its message text, on purpose.

Anthropic, Bedrock and Gemini report a prompt longer than the context window only
as a generic 400 (invalid_request_error / ValidationException / INVALID_ARGUMENT)
whose *message* says so: none has an error code for it. The routing issue needs
the distinction (fall back to a larger-context model), so each vendor's documented
message is matched here by an anchored prefix, and nowhere else.
"""

from __future__ import annotations

_PREFIXES = (
    "prompt is too long",  # Anthropic: "prompt is too long: 210000 tokens > 200000 maximum"
    "input is too long for requested model",  # Bedrock ValidationException
    "too many input tokens",  # Bedrock, some models
    "the input token count",  # Gemini: "The input token count (N) exceeds the maximum number of tokens allowed (M)."
)


def is_context_window_message(message: str) -> bool:
    return message.lstrip().lower().startswith(_PREFIXES)
