"""Which deployments a request may try, and in what order.

    requirements  the caller's key (config) merged with the request's headers
    placement     routing.placement filter: only deployments that satisfy them
    strategy      the route's ordering (priority = config order, computed as nothing)

Open circuit breakers are *not* filtered here: they are live state, checked by dispatch
just before each send, so a breaker that opens mid-request is honoured too.

The common case (strategy priority, no requirements) returns the route's own tuple:
no filter, no sort, no allocation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from switchgear.core.errors import (
    ContentFiltered,
    ContextWindowExceeded,
    GatewayError,
    InvalidRequest,
    PermissionDenied,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamTimeout,
)
from switchgear.routing.placement import Requirements, describe_exclusions, filter_candidates
from switchgear.routing.table import Deployment, ModelRoute

HEADER_RESIDENCY = "x-switchgear-residency"
HEADER_DATA_CLASS = "x-switchgear-data-class"
HEADER_ENVIRONMENT = "x-switchgear-environment"


class PlacementUnsatisfied(PermissionDenied):
    """No deployment of the model may receive this request's data (403, says why)."""

    code = "placement_unsatisfied"


def _split(value: str | None) -> list[str] | None:
    if value is None:
        return None
    items = [v.strip() for v in value.split(",") if v.strip()]
    return items or None


def request_requirements(headers: Mapping[str, str], key_req: Requirements | None) -> Requirements | None:
    """The caller's requirements (its key's and its grant's, set by authorize) merged with
    the request's ``x-switchgear-*`` headers.

    Headers can only add requirements (merge = stricter), never lift the caller's."""
    get = headers.get
    residency, data_class, environment = get(HEADER_RESIDENCY), get(HEADER_DATA_CLASS), get(HEADER_ENVIRONMENT)
    if residency is None and data_class is None and environment is None:
        return key_req
    try:
        hdr = Requirements.of(
            regions=_split(residency), data_class=_split(data_class), environments=_split(environment)
        )
    except ValueError as e:
        raise InvalidRequest(f"placement headers: {e}") from None
    return hdr.merge(key_req)


def _tags_of(d: Deployment) -> Any:
    return d.tags


def order(
    route: ModelRoute, requirements: Requirements | None, stream: bool
) -> tuple[Sequence[Deployment], list[tuple[str, str]]]:
    """(eligible deployments best first, excluded as (name, reason))."""
    deps: Sequence[Deployment] = route.deployments
    excluded: list[tuple[str, str]] = []
    if requirements is not None and requirements.active:
        deps, excluded = filter_candidates(deps, _tags_of, requirements)
    if route.strategy is not None and len(deps) > 1:
        deps = route.strategy(deps, route.data, stream)
    return deps, excluded


def unsatisfied(route: ModelRoute, requirements: Requirements, excluded: list[tuple[str, str]]) -> PlacementUnsatisfied:
    return PlacementUnsatisfied(f"model '{route.name}': {describe_exclusions(requirements, excluded)}")


def fallback_class(err: GatewayError) -> str | None:
    """The ``fallbacks:`` key an error selects (config.schema.FallbacksConfig)."""
    if isinstance(err, ContextWindowExceeded):
        return "context_window"
    if isinstance(err, ContentFiltered):
        return "content_filtered"
    if isinstance(err, UpstreamRateLimited):
        return "rate_limited"
    if isinstance(err, UpstreamTimeout):
        return "timeout"
    if isinstance(err, UpstreamError) and err.retryable:  # 5xx, overloaded, unavailable, protocol
        return "server_error"
    return None
