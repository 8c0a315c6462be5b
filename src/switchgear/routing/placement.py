"""Placement rules (compliance routing): where a request's data may be sent.

Why: organisations have residency and data-classification obligations. A request that
must stay in the EU, or carries confidential data, must only ever reach deployments that
satisfy that -- on the first attempt and on every fallback -- and when none can, the
caller gets a 4xx that says which rule excluded which deployment, never a silent route
elsewhere. So placement is a *filter* that runs before any strategy, and everything
after it (ordering, retries, fallbacks, hedging) only ever sees the eligible list.

Deny by construction: a requirement on a dimension is satisfied only by a tag that
positively matches it. A deployment with no tag on that dimension (or no tags at all)
never satisfies a requirement on it; an empty requirement set admits nothing.

Dimensions:
- ``environment``: one of ``on-prem``, ``colo``, ``cloud``; required ``environments``
  is the set allowed.
- ``region``: e.g. ``eu-west-1``; a residency entry is a whole region or a prefix of
  whole ``-``-separated segments: ``eu`` admits ``eu-west-1`` and ``eu-central-1``, not
  ``europe-west1`` nor ``eus-1``. Tag regions in one naming scheme, or list each scheme's
  prefixes in the residency (``eu``, ``europe``); a mismatch excludes, it never admits.
- ``data_classes``: the classes a deployment may receive (e.g. public, internal); the
  requirement lists the classes the request's data carries and *each* must be allowed.
  A set rather than one class so that requirements from the key, the caller and the
  request merge without a precedence rule: their union must be allowed.

Names are case-insensitive (normalised to lower case when the objects are built).
Requirements are immutable and hashable, so the lead can cache ``filter_candidates``
per (route, requirements).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

ENVIRONMENTS = frozenset({"on-prem", "colo", "cloud"})


class Named(Protocol):
    @property
    def name(self) -> str: ...


C = TypeVar("C", bound=Named)


def _region(value: str, what: str) -> str:
    v = value.strip().lower()
    if not v or not all(v.split("-")):
        raise ValueError(f"{what} {value!r} is not a region or '-'-separated region prefix")
    return v


def _environment(value: str) -> str:
    v = value.strip().lower()
    if v not in ENVIRONMENTS:
        raise ValueError(f"environment {value!r} is not one of {', '.join(sorted(ENVIRONMENTS))}")
    return v


def _data_class(value: str) -> str:
    v = value.strip().lower()
    if not v:
        raise ValueError("a data class name cannot be empty")
    return v


def _set(values: Iterable[str] | str, norm: Callable[[str], str]) -> frozenset[str]:
    if isinstance(values, str):  # one name, not its characters
        values = (values,)
    return frozenset(norm(v) for v in values)


def _listed(values: Iterable[str]) -> str:
    return ", ".join(sorted(values)) or "none"


def within(region: str, residency: str) -> bool:
    """Is ``region`` the residency itself or inside it, by whole segments?"""
    return region == residency or region.startswith(residency + "-")


@dataclass(frozen=True, slots=True)
class PlacementTags:
    """Where a deployment runs and what it may receive. ``None`` = untagged (denies)."""

    environment: str | None = None
    region: str | None = None
    data_classes: frozenset[str] | None = None

    def __post_init__(self) -> None:
        if self.environment is not None:
            object.__setattr__(self, "environment", _environment(self.environment))
        if self.region is not None:
            object.__setattr__(self, "region", _region(self.region, "region"))
        if self.data_classes is not None:
            object.__setattr__(self, "data_classes", _set(self.data_classes, _data_class))


@dataclass(frozen=True, slots=True)
class Requirements:
    """What a caller, key or request demands. ``None`` on a dimension = no demand."""

    regions: frozenset[str] | None = None  # residency: regions or segment prefixes ("eu")
    data_classes: frozenset[str] | None = None  # classes the data carries; all must be allowed
    environments: frozenset[str] | None = None  # environments allowed
    active: bool = field(init=False, repr=False, compare=False, default=False)
    # residency entries + "-", for one C-level str.startswith(tuple) per candidate
    _prefixes: tuple[str, ...] = field(init=False, repr=False, compare=False, default=())

    def __post_init__(self) -> None:
        if self.regions is not None:
            object.__setattr__(self, "regions", _set(self.regions, lambda v: _region(v, "residency")))
            object.__setattr__(self, "_prefixes", tuple(r + "-" for r in self.regions))
        if self.data_classes is not None:
            object.__setattr__(self, "data_classes", _set(self.data_classes, _data_class))
        if self.environments is not None:
            object.__setattr__(self, "environments", _set(self.environments, _environment))
        active = self.regions is not None or self.data_classes is not None or self.environments is not None
        object.__setattr__(self, "active", active)

    @classmethod
    def of(
        cls,
        *,
        regions: Iterable[str] | str | None = None,
        data_class: Iterable[str] | str | None = None,
        environments: Iterable[str] | str | None = None,
    ) -> Requirements:
        """Build from config/metadata values: a single name or a list of them."""
        return cls(
            regions=None if regions is None else _set(regions, lambda v: _region(v, "residency")),
            data_classes=None if data_class is None else _set(data_class, _data_class),
            environments=None if environments is None else _set(environments, _environment),
        )

    def merge(self, other: Requirements | None) -> Requirements:
        """Both sets of requirements at once: a deployment is eligible iff it meets each."""
        if other is None or not other.active:
            return self
        if not self.active:
            return other
        return Requirements(
            regions=_merge_regions(self.regions, other.regions),
            data_classes=_union(self.data_classes, other.data_classes),
            environments=_intersection(self.environments, other.environments),
        )

    def allows(self, tags: PlacementTags | None) -> bool:
        """Do these tags meet every requirement? (The per-request check; no strings built.)"""
        if tags is None:
            return not self.active
        regions = self.regions
        if regions is not None:
            region = tags.region
            if region is None or not (region in regions or region.startswith(self._prefixes)):
                return False
        needed = self.data_classes
        if needed is not None:
            allowed = tags.data_classes
            if allowed is None or not needed <= allowed:
                return False
        envs = self.environments
        if envs is not None:
            if tags.environment is None or tags.environment not in envs:
                return False
        return True

    def violations(self, tags: PlacementTags | None) -> list[str]:
        """Every rule these tags break, one sentence each (empty: eligible)."""
        out: list[str] = []
        regions = self.regions
        if regions is not None:
            region = tags.region if tags is not None else None
            if region is None:
                out.append(f"no region tag (residency {_listed(regions)} required)")
            elif not any(within(region, r) for r in regions):
                out.append(f"region {region} is outside residency {_listed(regions)}")
        needed = self.data_classes
        if needed is not None:
            allowed = tags.data_classes if tags is not None else None
            if allowed is None:
                noun = "data class" if len(needed) == 1 else "data classes"
                out.append(f"no data_classes tag ({noun} {_listed(needed)} required)")
            else:
                missing = needed - allowed
                if missing:
                    noun = "data class" if len(missing) == 1 else "data classes"
                    out.append(f"{noun} {_listed(missing)} not allowed (allows: {_listed(allowed)})")
        envs = self.environments
        if envs is not None:
            env = tags.environment if tags is not None else None
            if env is None:
                out.append(f"no environment tag (environment {_listed(envs)} required)")
            elif env not in envs:
                out.append(f"environment {env} not allowed (allows: {_listed(envs)})")
        return out

    def describe(self) -> str:
        """The requirements in words, for the 4xx when nothing is eligible."""
        parts = []
        if self.regions is not None:
            parts.append(f"residency {_listed(self.regions)}")
        if self.data_classes is not None:
            parts.append(f"data class {_listed(self.data_classes)}")
        if self.environments is not None:
            parts.append(f"environment {_listed(self.environments)}")
        return "; ".join(parts) or "none"


def _union(a: frozenset[str] | None, b: frozenset[str] | None) -> frozenset[str] | None:
    if a is None:
        return b
    if b is None:
        return a
    return a | b


def _intersection(a: frozenset[str] | None, b: frozenset[str] | None) -> frozenset[str] | None:
    if a is None:
        return b
    if b is None:
        return a
    return a & b


def _merge_regions(a: frozenset[str] | None, b: frozenset[str] | None) -> frozenset[str] | None:
    # A region within some x in a and some y in b has both as segment prefixes, so one of
    # x, y lies within the other; the narrower one is what both admit.
    if a is None:
        return b
    if b is None:
        return a
    out = set()
    for x in a:
        for y in b:
            if within(y, x):
                out.add(y)
            elif within(x, y):
                out.add(x)
    return frozenset(out)


def filter_candidates(
    candidates: Sequence[C],
    tags_of: Callable[[C], PlacementTags | None],
    requirements: Requirements | None,
) -> tuple[list[C], list[tuple[str, str]]]:
    """Split candidates into (eligible, excluded) keeping order; excluded are (name, reason).

    The reason names every rule the deployment breaks, joined by " and ".
    """
    if requirements is None or not requirements.active:
        return list(candidates), []
    eligible: list[C] = []
    excluded: list[tuple[str, str]] = []
    for c in candidates:
        tags = tags_of(c)
        if requirements.allows(tags):
            eligible.append(c)
        else:
            excluded.append((c.name, " and ".join(requirements.violations(tags))))
    return eligible, excluded


def describe_exclusions(requirements: Requirements, excluded: Sequence[tuple[str, str]]) -> str:
    """The message for the 4xx when no candidate is eligible."""
    detail = "; ".join(f"{name}: {reason}" for name, reason in excluded)
    msg = f"no deployment satisfies the placement requirements ({requirements.describe()})"
    return f"{msg}: {detail}" if detail else msg
