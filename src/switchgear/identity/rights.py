"""What a principal may do: grants, and the one decision function over them.

Deny by default: a request is allowed only when one grant covers all of it — the
endpoint, the model, the ``max_tokens`` asked for, the data classes declared. Grants
are not merged dimension by dimension (a grant for model A with a high token limit and
one for model B with a low one must not add up to B with the high limit), so a
principal's rights are simply the tuple of its own grants and its teams' grants.

An agent acting for a user is checked against *both* rights (see ``decide_both``): the
intersection, so no agent lifts a user above the user's rights, nor reaches beyond its
own scopes.
"""

from __future__ import annotations

from dataclasses import dataclass

ENDPOINTS = ("chat", "messages", "embeddings", "models")


@dataclass(frozen=True, slots=True)
class Grant:
    id: str
    models: tuple[str, ...]  # exact names, "prefix/*" or "*"
    endpoints: frozenset[str]
    max_tokens: int | None = None
    data_classes: frozenset[str] | None = None  # classes the caller may declare; None = any
    regions: tuple[str, ...] | None = None  # residency for the placement rules
    team: str | None = None  # the team this grant belongs to (charged for what it allows)
    # Precomputed matchers (built by ``grant``): a request costs set and prefix tests.
    every_model: bool = False
    exact: frozenset[str] = frozenset()
    prefixes: tuple[str, ...] = ()

    def covers_model(self, model: str) -> bool:
        return self.every_model or model in self.exact or model.startswith(self.prefixes)

    def describe(self) -> str:
        parts = [f"models {', '.join(self.models)}", f"endpoints {', '.join(sorted(self.endpoints))}"]
        if self.max_tokens is not None:
            parts.append(f"max_tokens {self.max_tokens}")
        if self.data_classes is not None:
            parts.append(f"data classes {', '.join(sorted(self.data_classes))}")
        if self.regions is not None:
            parts.append(f"regions {', '.join(self.regions)}")
        return f"grant {self.id} ({'; '.join(parts)})"


def grant(
    id: str,
    models: tuple[str, ...] | list[str],
    endpoints: tuple[str, ...] | list[str] = ENDPOINTS,
    max_tokens: int | None = None,
    data_classes: tuple[str, ...] | list[str] | None = None,
    regions: tuple[str, ...] | list[str] | None = None,
    team: str | None = None,
) -> Grant:
    models = tuple(models)
    return Grant(
        id=id,
        models=models,
        endpoints=frozenset(endpoints),
        max_tokens=max_tokens,
        data_classes=None if data_classes is None else frozenset(c.lower() for c in data_classes),
        regions=None if regions is None else tuple(regions),
        team=team,
        every_model="*" in models,
        exact=frozenset(m for m in models if not m.endswith("*")),
        prefixes=tuple(m[:-1] for m in models if m.endswith("*") and m != "*"),
    )


@dataclass(frozen=True, slots=True)
class Denied:
    """Why no grant covers a request: ``code`` is stable, ``missing`` names the grant
    that would be needed (safe to show: it never contains a secret)."""

    code: str
    missing: str


class Rights:
    __slots__ = ("grants",)

    def __init__(self, grants: tuple[Grant, ...] = ()) -> None:
        self.grants = grants

    def __bool__(self) -> bool:
        return bool(self.grants)

    def __add__(self, other: Rights) -> Rights:
        return Rights(self.grants + other.grants)

    def decide(
        self, endpoint: str, model: str | None, max_tokens: int | None = None,
        data_classes: frozenset[str] | None = None,
    ) -> Grant | Denied:
        """The first grant covering the request, or why none does. ``model`` None: an
        endpoint that names no model (the model list)."""
        # Fast path, on every request: one pass, no allocation.
        for g in self.grants:
            if (
                endpoint in g.endpoints
                and (model is None or g.every_model or model in g.exact or model.startswith(g.prefixes))
                and (g.max_tokens is None or (max_tokens is not None and max_tokens <= g.max_tokens))
                and (not data_classes or g.data_classes is None or data_classes <= g.data_classes)
            ):
                return g
        return self._why_not(endpoint, model, max_tokens, data_classes)

    def _why_not(
        self, endpoint: str, model: str | None, max_tokens: int | None, data_classes: frozenset[str] | None
    ) -> Grant | Denied:
        by_endpoint = [g for g in self.grants if endpoint in g.endpoints]
        if not by_endpoint:
            return Denied("endpoint_not_granted", f"a grant for endpoint '{endpoint}'")
        if model is None:
            return by_endpoint[0]
        by_model = [g for g in by_endpoint if g.covers_model(model)]
        if not by_model:
            return Denied("model_not_granted", f"a grant for model '{model}' on endpoint '{endpoint}'")
        by_tokens = [g for g in by_model if g.max_tokens is None or (max_tokens is not None and max_tokens <= g.max_tokens)]
        if not by_tokens:
            cap = max(g.max_tokens or 0 for g in by_model)
            asked = "no max_tokens" if max_tokens is None else f"max_tokens {max_tokens}"
            return Denied("max_tokens_not_granted", f"a grant for {asked} on model '{model}' (granted at most {cap})")
        if data_classes:
            by_class = [g for g in by_tokens if g.data_classes is None or data_classes <= g.data_classes]
            if not by_class:
                return Denied(
                    "data_class_not_granted",
                    f"a grant for data class {', '.join(sorted(data_classes))} on model '{model}'",
                )
            return by_class[0]
        return by_tokens[0]

    def token_cap(self, endpoint: str, model: str) -> int | None:
        """The largest max_tokens any grant allows for this model (None: unlimited or no grant):
        what a request that asked for none is given."""
        cap = None
        for g in self.grants:
            if endpoint in g.endpoints and g.covers_model(model):
                if g.max_tokens is None:
                    return None
                cap = g.max_tokens if cap is None else max(cap, g.max_tokens)
        return cap

    def models_visible(self, names: list[str]) -> list[str]:
        return [n for n in names if any(g.covers_model(n) for g in self.grants)]


NO_RIGHTS = Rights()
