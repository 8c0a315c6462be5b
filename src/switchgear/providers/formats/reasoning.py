"""Reasoning effort <-> thinking-token budget, shared by every wire format.

OpenAI speaks an effort (minimal … high); Anthropic, Bedrock (Claude) and Gemini a
token budget. One table converts both ways, so a request that crosses formats
lands in the same bucket whichever way it goes.
"""

from __future__ import annotations

from switchgear.core.types import Reasoning

# OpenAI-style effort -> thinking token budget (fits Claude's and every Gemini 2.5 range).
EFFORT_BUDGET = {"minimal": 1024, "low": 2048, "medium": 8192, "high": 24576}

# Claude refuses a smaller budget_tokens (Anthropic API and Claude on Bedrock).
MIN_CLAUDE_BUDGET = 1024


def requested_budget(r: Reasoning) -> int | None:
    """The budget ``r`` asks for: its own, else its effort's; None when it names neither."""
    if r.budget_tokens is not None:
        return r.budget_tokens
    return EFFORT_BUDGET.get(r.effort) if r.effort is not None else None


def effort_for_budget(budget: int) -> str:
    """The smallest effort whose budget covers ``budget`` (the inverse of EFFORT_BUDGET);
    "high" above them all. Callers decide what a budget of 0 means for them."""
    for effort in ("minimal", "low", "medium"):
        if budget <= EFFORT_BUDGET[effort]:
            return effort
    return "high"


def claude_max_tokens(budget: int, max_tokens: int) -> int:
    """Claude needs budget_tokens < max_tokens: when the client's max_tokens is not above
    the budget, the answer keeps the room the client asked for on top of the budget."""
    return budget + max_tokens if max_tokens <= budget else max_tokens
