"""Anthropic Messages dialect, client side: ``POST /v1/messages`` as the ``anthropic`` SDK speaks it.

``parse_body`` checks the top level cheaply (the raw dict is what pass-through sends
on); ``to_canonical`` does the full conversion; ``render_response``,
``StreamRenderer`` and ``render_error`` speak back in Anthropic's shapes.

Decisions worth knowing:
- ``tool_result`` blocks of a user turn become separate ``tool`` messages placed before
  the rest of that turn (Anthropic requires results first, so order is kept).
- Anthropic streams always report usage, so a streaming request asks the upstream for
  usage (``include_usage``).
- ``thinking {type: enabled, budget_tokens}`` -> ``Reasoning(budget_tokens)``;
  ``thinking {type: adaptive}`` -> ``Reasoning(effort)`` from ``output_config.effort``
  (Anthropic's default, high, when absent; xhigh and max map to high, the highest
  canonical effort). ``output_config.effort`` without adaptive thinking stays in
  ``extra``. ``thinking.display`` is a presentation choice and is not carried.
- Things the canonical model cannot hold are refused with UnsupportedParameter naming
  them (document and search_result blocks, Files API sources, server tools), except
  ``cache_control`` on tools, images and tool blocks, which is a caching hint with no
  canonical home and is not carried (text blocks keep theirs).
- ``max_tokens`` is required, as Anthropic requires it; 0 is accepted (Anthropic uses
  it to pre-warm the prompt cache).
- For n > 1 only choice 0 is rendered: Anthropic messages have one answer.
- Thinking signatures (core.signatures): a signature the client sends that is not
  tagged is Anthropic's own and is tagged ``anthropic_messages:``. Rendering, an
  Anthropic signature is shown raw (the next turn can pass through unchanged); one
  from another vendor (Bedrock, a Gemini carrier) is shown tagged, opaque to the
  client, and recognised when the client sends it back. Pass-through bodies are
  never touched, so ``has_tagged_signature`` tells the pipeline when a body must be
  translated instead (a foreign signature would be rejected by Anthropic).

Modules: ``request`` (parse_body, to_canonical), ``blocks`` (content blocks -> canonical
parts), ``response``, ``stream``, ``errors``.
"""

from switchgear.frontends.anthropic_messages.errors import render_error
from switchgear.frontends.anthropic_messages.request import parse_body, to_canonical
from switchgear.frontends.anthropic_messages.response import STOP_REASONS, has_tagged_signature, render_response
from switchgear.frontends.anthropic_messages.stream import StreamRenderer

__all__ = [
    "STOP_REASONS",
    "StreamRenderer",
    "has_tagged_signature",
    "parse_body",
    "render_error",
    "render_response",
    "to_canonical",
]
