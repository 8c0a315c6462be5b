"""``tools`` / legacy ``functions`` and ``tool_choice`` / ``function_call`` -> canonical."""

from __future__ import annotations

from typing import Any

from switchgear.core.errors import UnsupportedParameter
from switchgear.core.types import Tool, ToolChoice
from switchgear.frontends.openai_chat.checks import bad_type, bad_value, missing, optional_str, require_str


def tools(tools: list[Any], functions: list[Any]) -> list[Tool]:
    out: list[Tool] = []
    for j, t in enumerate(tools):
        p = f"tools[{j}]"
        if type(t) is not dict:
            raise bad_type(p, "an object", t)
        kind = t.get("type")
        if kind == "custom":
            raise UnsupportedParameter("Custom tools are not supported by this gateway.", param=f"{p}.type")
        if kind != "function":
            if kind is None:
                raise missing(f"{p}.type")
            raise bad_value(f"{p}.type", f"'{kind}' is not one of ['custom', 'function'].")
        out.append(_function_tool(t.get("function"), f"{p}.function"))
    out.extend(_function_tool(fn, f"functions[{j}]") for j, fn in enumerate(functions))
    return out


def _function_tool(fn: Any, path: str) -> Tool:
    if type(fn) is not dict:
        raise bad_type(path, "an object", fn)
    name = require_str(fn, "name", path)
    if not name:
        raise bad_value(f"{path}.name", "the function name must not be empty.")
    params = fn.get("parameters")
    if params is not None and type(params) is not dict:
        raise bad_type(f"{path}.parameters", "an object", params)
    strict = fn.get("strict")
    if strict is not None and type(strict) is not bool:
        raise bad_type(f"{path}.strict", "a boolean", strict)
    return Tool(name=name, description=optional_str(fn, "description", path), parameters=params or {}, strict=strict)


def tool_choice(tc: Any) -> ToolChoice:
    if type(tc) is str:
        if tc not in ("none", "auto", "required"):
            raise bad_value("tool_choice", f"'{tc}' is not one of ['auto', 'none', 'required'].")
        return ToolChoice(tc)  # type: ignore[arg-type]
    kind = tc.get("type")
    if kind == "function":
        fn = tc.get("function")
        if type(fn) is not dict:
            raise bad_type("tool_choice.function", "an object", fn)
        return ToolChoice("tool", require_str(fn, "name", "tool_choice.function"))
    if kind in ("allowed_tools", "custom"):
        raise UnsupportedParameter(f"tool_choice of type '{kind}' is not supported by this gateway.", param="tool_choice.type")
    raise bad_value("tool_choice.type", f"'{kind}' is not one of ['allowed_tools', 'custom', 'function'].")


def function_call_choice(fc: Any) -> ToolChoice:
    if type(fc) is str:
        if fc not in ("none", "auto"):
            raise bad_value("function_call", f"'{fc}' is not one of ['auto', 'none'].")
        return ToolChoice(fc)  # type: ignore[arg-type]
    return ToolChoice("tool", require_str(fc, "name", "function_call"))
