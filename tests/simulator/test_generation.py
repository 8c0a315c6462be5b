"""Pure parts of the simulator: token rule, reply planning, schema values, the
AWS event-stream encoder (checked by botocore's independent decoder)."""

from __future__ import annotations

import jsonschema
import pytest
from botocore.eventstream import ChecksumMismatch, EventStreamBuffer
from hypothesis import given
from hypothesis import strategies as st

from switchgear.simulator import eventstream, plan, schema, text


def test_token_rule_counts_words_and_punctuation():
    assert text.tokens("Hello, world!") == ["Hello", ",", " world", "!"]
    assert text.count_tokens("Hello, world!") == 4
    assert text.count_tokens("") == 0
    assert text.count_tokens("  spaced   out  ") == 2


@given(st.text(max_size=200), st.integers(min_value=1, max_value=7))
def test_stream_deltas_concatenate_to_the_text(value, per):
    pieces = text.chunks(value, per)
    assert "".join(p for p, _ in pieces) == (value if pieces else "")
    assert sum(n for _, n in pieces) == text.count_tokens(value)


def test_compose_has_exactly_the_requested_tokens_and_repeats_the_source():
    out = text.compose("Simulated reply from m:", "alpha beta", 11)
    assert out == "Simulated reply from m: alpha beta alpha beta alpha beta"
    assert text.count_tokens(out) == 11


def test_stop_sequence_cuts_at_the_earliest_match():
    assert text.cut_at_stop("one two three two", ["three", "two"]) == ("one ", "two")
    assert text.cut_at_stop("one", ["x"]) == ("one", None)


def _ask(**kw):
    return plan.Ask(model="m", source="tell me about cats", **kw)


def _ids():
    n = iter(range(100))
    return lambda: f"id{next(n)}"


def test_reply_is_prefix_plus_reply_tokens_of_the_user_words():
    r = plan.answer(_ask(), 6, _ids())
    assert r.text == "Simulated reply from m: tell me about cats tell me"
    assert r.finish == "stop"
    assert r.output_tokens == text.count_tokens(r.text)


def test_max_tokens_trims_and_reports_length():
    r = plan.answer(_ask(max_tokens=3), 24, _ids())
    assert r.text == "Simulated reply from"
    assert (r.finish, r.output_tokens) == ("length", 3)


def test_stop_sequence_wins_over_length_when_it_comes_first():
    r = plan.answer(_ask(stop=["about"]), 24, _ids())
    assert r.text == "Simulated reply from m: tell me "
    assert (r.finish, r.stop_sequence) == ("stop_sequence", "about")


def test_tools_called_in_parallel_or_singly_per_choice():
    tools = [plan.ToolSpec("a", {"type": "object"}), plan.ToolSpec("b", {"type": "object"})]
    assert [c.name for c in plan.answer(_ask(tools=tools), 8, _ids()).calls] == ["a", "b"]
    assert [c.name for c in plan.answer(_ask(tools=tools, parallel_tools=False), 8, _ids()).calls] == ["a"]
    assert [c.name for c in plan.answer(_ask(tools=tools, tool_mode="tool", tool_name="b"), 8, _ids()).calls] == ["b"]
    none = plan.answer(_ask(tools=tools, tool_mode="none"), 8, _ids())
    assert not none.calls and none.text


def test_after_a_tool_result_the_reply_mentions_it():
    tools = [plan.ToolSpec("a", {"type": "object"})]
    r = plan.answer(_ask(tools=tools, tool_result="72 degrees"), 4, _ids())
    assert not r.calls
    assert r.text == "Simulated reply from m: the tool returned 72 degrees 72 degrees"


def test_hidden_reasoning_and_thinking_count_against_max_tokens():
    r = plan.answer(_ask(hidden_reasoning=64, max_tokens=10), 24, _ids())
    assert (r.reasoning_tokens, r.text, r.finish) == (10, "", "length")
    t = plan.answer(_ask(thinking_budget=2000, max_tokens=30), 24, _ids())
    assert t.thinking_tokens == 24 and t.text_tokens == 6 and t.finish == "length"
    assert text.signature_ok(t.thinking, t.signature)
    assert not text.signature_ok(t.thinking + "x", t.signature)


SCHEMAS = [
    {"type": "object", "properties": {"city": {"type": "string"}, "unit": {"enum": ["c", "f"]}}, "required": ["city", "unit"]},
    {"type": "object", "properties": {"n": {"type": "integer", "minimum": 5, "maximum": 9, "multipleOf": 3}}, "required": ["n"]},
    {"type": "object", "properties": {"x": {"type": "number", "exclusiveMinimum": 10}}, "required": ["x"]},
    {"type": "object", "properties": {"tags": {"type": "array", "items": {"type": "string"}, "minItems": 2, "uniqueItems": True}}, "required": ["tags"]},
    {"type": "object", "properties": {"when": {"type": "string", "format": "date-time"}, "id": {"type": "string", "minLength": 8}}, "required": ["when", "id"]},
    {"type": "object", "properties": {"v": {"anyOf": [{"type": "null"}, {"type": "boolean"}]}}, "required": ["v"]},
    {"$defs": {"P": {"type": "object", "properties": {"k": {"const": "z"}}, "required": ["k"]}}, "type": "object", "properties": {"p": {"$ref": "#/$defs/P"}}, "required": ["p"], "additionalProperties": False},
    {"allOf": [{"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}, {"properties": {"b": {"type": ["integer", "null"]}}, "required": ["b"]}]},
    {"type": "object", "properties": {"opt": {"type": "string"}}, "minProperties": 1},
    {"type": "OBJECT", "properties": {"q": {"type": "STRING"}}, "required": ["q"]},  # Gemini's spelling
]


@pytest.mark.parametrize("spec", SCHEMAS)
def test_schema_example_is_valid(spec):
    value = schema.example(spec)
    if spec.get("type") == "OBJECT":
        assert value == {"q": "sim"}
        return
    jsonschema.Draft202012Validator(spec).validate(value)


def test_event_stream_messages_decode_with_botocore():
    buf = EventStreamBuffer()
    buf.add_data(eventstream.event("messageStart", b'{"role":"assistant"}'))
    buf.add_data(eventstream.exception("throttlingException", b'{"message":"slow down"}'))
    first, second = list(buf)
    assert first.headers == {":event-type": "messageStart", ":content-type": "application/json", ":message-type": "event"}
    assert first.payload == b'{"role":"assistant"}'
    assert second.headers[":message-type"] == "exception"
    assert second.headers[":exception-type"] == "throttlingException"


def test_event_stream_crc_is_checked():
    raw = bytearray(eventstream.event("messageStop", b"{}"))
    raw[-1] ^= 1
    buf = EventStreamBuffer()
    buf.add_data(bytes(raw))
    with pytest.raises(ChecksumMismatch):
        list(buf)


def test_ids_are_deterministic_per_seed():
    a, b, c = text.Ids(7), text.Ids(7), text.Ids(8)
    first = [a.make("call_", 24) for _ in range(3)]
    assert first == [b.make("call_", 24) for _ in range(3)]
    assert first != [c.make("call_", 24) for _ in range(3)]
    assert len(set(first)) == 3 and all(len(i) == 29 for i in first)


def test_embeddings_are_unit_vectors_that_depend_on_the_text():
    v = text.embedding("cat", 64)
    assert abs(sum(x * x for x in v) - 1.0) < 1e-5
    assert v == text.embedding("cat", 64) and v != text.embedding("dog", 64)
