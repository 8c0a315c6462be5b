"""A faithful fake of the LLM providers Switchgear talks to.

One HTTP server speaks OpenAI (and Azure OpenAI), Anthropic, Gemini and Bedrock
on their real paths and wire formats, deterministically, with scriptable faults.
Two uses: ``switchgear serve`` without provider keys runs on it (and can rehearse
failover with its faults), and tests use it as the upstream, so the gateway's
adapters are checked against the vendors' shapes rather than against themselves.

It is written from the vendors' API references, independently of Switchgear's
own translation code (it imports nothing from ``switchgear.providers`` or
``switchgear.frontends``), so a shared misunderstanding cannot hide a bug.

Modules: ``config`` (settings, faults, model-name triggers), ``server``
(routing, faults, pacing, request log, control API), ``wire`` (what a wire
module hands the server), ``plan`` (what the model answers), ``text`` (tokens
and deterministic content), ``schema`` (values valid under a JSON Schema),
``cache`` (prompt caching), one module per wire format (``openai``, a package:
request validation, chat, embeddings and error shapes; ``anthropic``, ``gemini``,
``bedrock``) and ``eventstream`` (the AWS binary event-stream encoder).
"""

from switchgear.simulator.config import Fault, SimulatorConfig
from switchgear.simulator.server import Simulator

__all__ = ["Fault", "Simulator", "SimulatorConfig"]
