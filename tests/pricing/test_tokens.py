"""Token bounds never under-count; estimates use the real o200k_base encoding."""

from __future__ import annotations

import json
import subprocess
import sys

import msgspec
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from switchgear.core.errors import GatewayError
from switchgear.core.types import (
    ChatRequest,
    EmbeddingsRequest,
    ImagePart,
    Message,
    Reasoning,
    ResponseFormat,
    TextPart,
    ThinkingPart,
    Tool,
    ToolCallPart,
    ToolResultPart,
    Usage,
)
from switchgear.pricing import tokens
from switchgear.pricing.tokens import (
    DEFAULT_OUTPUT_CEILING,
    IMAGE_TOKENS_UPPER,
    TOOLS_OVERHEAD,
    chat_input_upper_bound,
    count_tokens,
    count_tokens_async,
    embeddings_input_upper_bound,
    estimate_chat_usage,
    exact_for,
    image_tokens_upper,
    output_upper_bound,
    utf8_len,
)
from switchgear.providers.formats import anthropic_messages, bedrock_converse
from switchgear.providers.formats.base import Target

props = settings(deadline=None, derandomize=True, database=None, max_examples=200)

# Everything Unicode can hold, surrogates aside, with extra weight on what tokenizes badly.
texts = st.one_of(
    st.text(),
    st.text(alphabet=st.characters(min_codepoint=0x1F300, max_codepoint=0x1FAFF)),  # emoji
    st.text(alphabet=st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF)),  # CJK
    st.text(alphabet=" \n\t.,;:!?'\"()[]{}<>|0123456789"),  # whitespace, punctuation, digits
    st.sampled_from(["<|endoftext|>", "<|endofprompt|>", "'s'll've", "a" * 5000, "\r\n" * 300]),
)


def chat(*messages: Message, **kw: object) -> ChatRequest:
    return ChatRequest(model="gpt-4o", messages=list(messages), **kw)  # type: ignore[arg-type]


def user(*parts: object) -> Message:
    return Message(role="user", parts=list(parts))  # type: ignore[arg-type]


# ---- the byte bound ---------------------------------------------------------------------


def test_utf8_len() -> None:
    assert utf8_len("hello") == 5
    assert utf8_len("héllo") == 6
    assert utf8_len("日本") == 6
    assert utf8_len("🙂") == 4
    assert utf8_len("\ud800") == 3  # a lone surrogate from a JSON body does not crash


@props
@given(text=texts)
def test_tokens_never_exceed_utf8_bytes(text: str) -> None:
    assert count_tokens(text) <= utf8_len(text)


@props
@given(turns=st.lists(st.tuples(st.sampled_from(["system", "user", "assistant"]), texts), min_size=1, max_size=6))
def test_chat_bound_covers_openais_message_formula(turns: list[tuple[str, str]]) -> None:
    """OpenAI counts content tokens + 3-4 per message + 3 to prime the reply."""
    req = chat(*(Message(role=r, parts=[TextPart(text=t)]) for r, t in turns))  # type: ignore[arg-type]
    counted = sum(count_tokens(t) + count_tokens(r) + 4 for r, t in turns) + 3
    assert chat_input_upper_bound(req) >= counted


def test_every_part_kind_is_counted() -> None:
    base = chat_input_upper_bound(chat(user()))
    parts: list[tuple[object, int]] = [
        (TextPart(text="x" * 100), 100),
        (ThinkingPart(text="y" * 50, signature="anthropic_messages:" + "s" * 900), 50),  # signature: not input
        (ToolCallPart(id="call_1", name="get", arguments='{"a": 1}'), 6 + 3 + 8),
        (ToolResultPart(tool_call_id="call_1", content=[TextPart(text="z" * 10)]), 6 + 10),
        (ImagePart(url="https://example.com/cat.png"), IMAGE_TOKENS_UPPER),
        (ImagePart(data="A" * 100_000, media_type="image/png"), IMAGE_TOKENS_UPPER),  # base64 is not text
    ]
    for part, content in parts:
        grown = chat_input_upper_bound(chat(user(part))) - base
        assert content <= grown <= content + 2 * tokens.PART_OVERHEAD, part


def test_image_bounds_follow_the_upstream_model() -> None:
    assert image_tokens_upper("gpt-4o-mini-2024-07-18") == 48_169
    assert image_tokens_upper("gpt-4o") == IMAGE_TOKENS_UPPER
    req = chat(user(ImagePart(url="u"), ImagePart(url="v")))
    assert chat_input_upper_bound(req, image_tokens=48_169) - chat_input_upper_bound(req, image_tokens=0) == 2 * 48_169


def test_tools_and_schemas_are_counted_as_json() -> None:
    params = {"type": "object", "properties": {"city": {"type": "string", "description": "Ville, e.g. Zürich"}}}
    tool = Tool(name="get_weather", description="Get the weather", parameters=params)
    plain = chat_input_upper_bound(chat(user(TextPart(text="hi"))))
    with_tool = chat_input_upper_bound(chat(user(TextPart(text="hi")), tools=[tool]))
    assert with_tool - plain >= TOOLS_OVERHEAD + len(json.dumps(params, ensure_ascii=False).encode()) + len("get_weather")
    rendered = json.dumps({"name": tool.name, "description": tool.description, "parameters": params})
    assert with_tool - plain >= count_tokens(rendered) + 346  # Anthropic's documented tool prompt
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}}
    rf = ResponseFormat(type="json_schema", name="a", schema=schema)
    assert chat_input_upper_bound(chat(user(), response_format=rf)) - chat_input_upper_bound(chat(user())) >= len(
        msgspec.json.encode(schema)
    )


def test_embeddings_bound() -> None:
    assert embeddings_input_upper_bound(EmbeddingsRequest(model="e", input=["héllo", "world"])) == 6 + 1 + 5 + 1
    assert embeddings_input_upper_bound(EmbeddingsRequest(model="e", input=[[1, 2, 3], [4]])) == 4 + 2
    for text in ("The quick brown fox", "日本語のテキスト", "🙂" * 20):
        assert embeddings_input_upper_bound(EmbeddingsRequest(model="e", input=[text])) >= count_tokens(text)


# ---- the output bound --------------------------------------------------------------------


def test_output_bound_basics() -> None:
    assert output_upper_bound(chat(user(), max_tokens=500), ceiling=16384) == 500
    assert output_upper_bound(chat(user()), ceiling=16384) == 16384
    assert output_upper_bound(chat(user()), ceiling=None) == DEFAULT_OUTPUT_CEILING
    assert output_upper_bound(chat(user(), max_tokens=500, n=3), ceiling=16384) == 1500
    assert output_upper_bound(chat(user(), max_tokens=100_000), ceiling=16384) == 16384  # the model stops there
    assert output_upper_bound(chat(user(), max_tokens=0), ceiling=None) == 0
    thinking_off = Reasoning(budget_tokens=0)
    assert output_upper_bound(chat(user(), max_tokens=500, reasoning=thinking_off), ceiling=None) == 500


def _target(fmt: str, model: str, **options: object) -> Target:
    return Target(provider="p", vendor="anthropic" if fmt == "anthropic_messages" else "bedrock", format=fmt,
                  base_url="https://example.invalid", model=model, options=options)


reasonings = st.one_of(
    st.none(),
    st.builds(Reasoning, effort=st.sampled_from(["minimal", "low", "medium", "high"])),
    st.builds(Reasoning, budget_tokens=st.integers(min_value=0, max_value=40_000)),
    st.just(Reasoning()),
)


@props
@given(max_tokens=st.none() | st.integers(min_value=0, max_value=64_000), reasoning=reasonings,
       fmt=st.sampled_from(["anthropic_messages", "bedrock_converse"]))
def test_output_bound_covers_what_the_claude_formats_send(max_tokens: int | None, reasoning: Reasoning | None,
                                                          fmt: str) -> None:
    """The formats may raise max_tokens to make room for thinking: the bound follows them."""
    req = chat(user(TextPart(text="hi")), max_tokens=max_tokens, reasoning=reasoning)
    module = anthropic_messages if fmt == "anthropic_messages" else bedrock_converse
    try:
        body = json.loads(module.build_request(req, _target(fmt, "claude-x")).body)
    except GatewayError:
        assume(False)
        return
    sent = body["max_tokens"] if fmt == "anthropic_messages" else body.get("inferenceConfig", {}).get("maxTokens")
    if sent is not None:
        assert sent <= output_upper_bound(req, ceiling=None)


# ---- estimates ----------------------------------------------------------------------------


def test_o200k_matches_tiktokens_reference_ids() -> None:
    enc = tokens._o200k()
    assert enc.encode("hello world") == [24912, 2375]  # tiktoken's own test vector for o200k_base
    assert enc.n_vocab == 200019
    text = "Grüße, 世界! 🙂 <|endoftext|>"
    assert enc.decode(enc.encode_ordinary(text)) == text
    assert count_tokens("") == 0


def test_exact_for_openai_o200k_models() -> None:
    for model in ("gpt-4o", "gpt-4o-mini-2024-07-18", "gpt-4.1-nano", "gpt-5", "o3", "o4-mini"):
        assert exact_for(model)
    for model in ("gpt-4", "gpt-3.5-turbo", "claude-sonnet-4-5", "gemini-2.5-pro", "text-embedding-3-small"):
        assert not exact_for(model)


def test_importing_tokens_does_not_load_tiktoken() -> None:
    code = (
        "import sys, switchgear.pricing.tokens as t; "
        "assert 'tiktoken' not in sys.modules and not t.encoding_loaded(); "
        "t.chat_input_upper_bound(t.ChatRequest(model='m', messages=[])); "
        "assert 'tiktoken' not in sys.modules; print('lazy')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "lazy"


async def test_count_tokens_async_matches_sync() -> None:
    long = "All work and no play makes Jack a dull boy. " * 2000
    assert await count_tokens_async(long) == count_tokens(long)
    assert await count_tokens_async("hello world") == 2
    assert await count_tokens_async("") == 0


async def test_estimate_counts_prompt_and_output_when_nothing_was_reported() -> None:
    req = chat(Message(role="system", parts=[TextPart(text="Be brief.")]), user(TextPart(text="Name three colours.")))
    usage = await estimate_chat_usage(req, "Red, green and blue.")
    assert usage.estimated
    assert usage.output_tokens == count_tokens("Red, green and blue.")
    assert usage.input_tokens >= count_tokens("Be brief.") + count_tokens("Name three colours.")
    assert usage.input_tokens <= chat_input_upper_bound(req)


async def test_estimate_keeps_what_upstream_reported() -> None:
    req = chat(user(TextPart(text="x" * 40_000)))
    reported = Usage(input_tokens=1234, cached_input_tokens=1000, output_tokens=1)
    usage = await estimate_chat_usage(req, "a streamed answer that was cut off", reported)
    assert usage.input_tokens == 1234 and usage.cached_input_tokens == 1000
    assert usage.output_tokens == count_tokens("a streamed answer that was cut off")
    assert usage.estimated


async def test_estimate_counts_images_and_tool_calls() -> None:
    req = chat(user(TextPart(text="what is this?"), ImagePart(url="u")))
    without = await estimate_chat_usage(req, "", image_tokens=0)
    with_image = await estimate_chat_usage(req, "", image_tokens=765)
    assert with_image.input_tokens - without.input_tokens == 765
    call = '{"city": "Paris"}'
    usage = await estimate_chat_usage(req, "get_weather" + call)
    assert usage.output_tokens == count_tokens("get_weather" + call) > 0

