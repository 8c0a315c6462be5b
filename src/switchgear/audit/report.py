"""What `switchgear audit verify` found: the report, its problems, and their text.

Problems are merged as they are found (a run of renumbered entries is one problem, not
a million), so the list stays short and bounded.
"""

from __future__ import annotations

from typing import Any

import msgspec

MAX_PROBLEMS = 1000  # after merging runs; the rest are counted


class Problem(msgspec.Struct, kw_only=True):
    seq: int | None  # the first seq concerned (the stored seq column, or a checkpoint's seq)
    kind: str  # modified | rehashed | missing | inserted | moved | swapped | index | head |
    #           checkpoint_mismatch | checkpoint_missing_entry | checkpoint_beyond_end |
    #           checkpoint_signature | checkpoint_unknown_key
    message: str
    end_seq: int | None = None  # the last seq, when the problem covers a run


class VerifyReport(msgspec.Struct, kw_only=True):
    ok: bool
    entries_checked: int
    head_seq: int | None
    checkpoints_total: int
    checkpoints_verified: int  # matched the chain (and, when keys were given, signed by one)
    last_checkpoint_seq: int | None  # the last verified checkpoint
    signatures_checked: bool
    problems: list[Problem]
    problems_omitted: int = 0


CONTIGUOUS = -1  # merge with the previous problem when this seq follows its last one
ANY_SEQ = -2  # merge with the previous problem of the same kind and run key, whatever the seq


def _merged_message(kind: str, a: int, b: int, n: int, key: Any, extra: Any) -> str:
    if kind == "modified":
        return f"entries {a}–{b} were modified: their content does not match their hashes"
    if kind == "moved":
        return f"entries {a}–{b} were renumbered: they were sealed as seq {a + key}–{b + key}"
    if kind == "index":
        return f"entries {a}–{b}: indexed columns disagree with the entry JSON"
    if kind == "checkpoint_unknown_key":
        return f"{n} checkpoints at seq {a}…{b} are signed by key {key}, which is not among the given public keys"
    if kind == "checkpoint_signature":
        return f"{n} checkpoints at seq {a}…{b} have invalid signatures (forged, or their seq/hash/ts were changed)"
    # checkpoint_mismatch
    later = f"the later checkpoint at seq {b} does" if n == 2 else f"the {n - 1} later checkpoints up to seq {b} do"
    return (
        f"checkpoint at seq {a} does not match the chain: an entry in seq {extra}–{a} was changed and "
        f"the chain re-hashed after it; {later} not match either"
    )


_MERGED = ("modified", "moved", "index", "checkpoint_unknown_key", "checkpoint_signature", "checkpoint_mismatch")


class _Run:
    __slots__ = ("count", "extra", "key", "last", "problem")

    def __init__(self, problem: Problem, key: Any, last: int, extra: Any) -> None:
        self.problem = problem
        self.key = key
        self.last = last
        self.count = 1
        self.extra = extra


class ProblemLog:
    """Collects problems, merging runs as they come so that a mass change stays readable
    (and the list stays bounded). A run continues the latest problem of its kind, even
    when problems of other kinds were found in between."""

    def __init__(self) -> None:
        self.items: list[Problem] = []
        self.omitted = 0
        self._runs: dict[str, _Run] = {}

    def add(
        self, kind: str, seq: int | None, message: str, *,
        key: Any = None, follows: int = CONTIGUOUS, extra: Any = None,
    ) -> None:
        run = self._runs.get(kind)
        if run is not None and seq is not None and kind in _MERGED:
            p = run.problem
            assert p.seq is not None
            if run.key == key and (
                follows == ANY_SEQ or (follows == CONTIGUOUS and seq == run.last + 1) or follows == run.last
            ):
                run.last = seq
                run.count += 1
                p.end_seq = seq
                p.message = _merged_message(kind, p.seq, seq, run.count, key, run.extra)
                return
            if kind == "moved" and run.count == 1 and p.seq + run.key == seq and seq + key == p.seq:
                # Entry a holds b and entry b holds a: say what happened.
                p.kind = "swapped"
                p.message = f"entries {p.seq} and {seq} were swapped"
                p.end_seq = seq
                del self._runs[kind]
                return
        if len(self.items) >= MAX_PROBLEMS:
            self.omitted += 1
            return
        problem = Problem(seq=seq, kind=kind, message=message)
        self.items.append(problem)
        if seq is not None:
            self._runs[kind] = _Run(problem, key, seq, extra)


def main_report_text(report: VerifyReport) -> str:
    """The report as the CLI prints it."""
    lines: list[str] = []
    if report.ok:
        lines.append(f"audit chain OK: {report.entries_checked} entries checked, head at seq {report.head_seq}")
    else:
        n = len(report.problems) + report.problems_omitted
        lines.append(f"audit chain FAILED verification: {n} problem{'s' if n != 1 else ''} in {report.entries_checked} entries")
        for p in report.problems:
            lines.append(f"  - {p.message}")
        if report.problems_omitted:
            lines.append(f"  … and {report.problems_omitted} more problems")
    cps = f"checkpoints: {report.checkpoints_verified} of {report.checkpoints_total} verified"
    if report.last_checkpoint_seq is not None:
        unsigned = (report.head_seq or 0) - report.last_checkpoint_seq
        cps += f", the last at seq {report.last_checkpoint_seq}"
        if unsigned > 0:
            later = "1 later entry is" if unsigned == 1 else f"{unsigned} later entries are"
            cps += f" ({later} protected by the hash chain only)"
    lines.append(cps)
    if not report.signatures_checked:
        lines.append("checkpoint signatures were NOT checked: pass --public-key to check them")
    return "\n".join(lines) + "\n"
