"""THE order of the request pipeline. Read this file to know what happens to a request.

``on_request`` runs top to bottom; ``on_complete`` runs bottom to top, always — so
the stage listed first sees the final outcome (record), and the stage listed last
(dispatch) is the one that talks to the upstream.

    record         on the way out: metrics (request log and audit join later)
    authenticate   who is calling — headers only, so an unauthenticated caller
                   costs no body parse and learns nothing about body validation
    parse_request  the client's body in its own dialect (cheap checks)
    resolve_route  ordered candidate deployments for the requested model
    (authorize, rate_limit, budget, guard_input: added by their issues, here)
    dispatch       try candidates; retries/fallback; streams; guard_output later
"""

from __future__ import annotations

from typing import Any

from switchgear.pipeline.stage import Chain
from switchgear.stages.authenticate import Authenticate
from switchgear.stages.dispatch import Dispatch
from switchgear.stages.dispatch_embeddings import DispatchEmbeddings
from switchgear.stages.parse_request import ParseChat, ParseEmbeddings
from switchgear.stages.record import Record
from switchgear.stages.resolve_route import ResolveRoute


def chat_chain(rt: Any, dialect: Any) -> Chain:
    return Chain(
        (
            Record(rt.metrics, dialect.endpoint),
            Authenticate(rt.keys),
            ParseChat(dialect),
            ResolveRoute(rt.routes, "chat"),
            Dispatch(dialect, rt.metrics.observe_attempt_failure, rt),
        )
    )


def embeddings_chain(rt: Any, parse: Any, render: Any) -> Chain:
    return Chain(
        (
            Record(rt.metrics, "embeddings"),
            Authenticate(rt.keys),
            ParseEmbeddings(parse),
            ResolveRoute(rt.routes, "embeddings"),
            DispatchEmbeddings(render, rt),
        )
    )
