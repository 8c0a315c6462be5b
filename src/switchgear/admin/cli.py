"""`switchgear keys|agents|users|service-accounts|teams|grants|whoami|access|spend …`: the admin
API from a terminal.

Each command is one HTTP call to a running gateway (``--url``, default $SWITCHGEAR_URL or
http://127.0.0.1:4000) with an admin key (``--admin-key``, default $SWITCHGEAR_ADMIN_KEY).
Output is a readable table, or the API's JSON with ``--json``. An API error prints the
API's own message and exits 1. A created or rotated key's secret is printed once, on
stdout, with a warning on stderr that it cannot be shown again.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

DEFAULT_URL = "http://127.0.0.1:4000"
API = "/admin/v1"
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([wdhms])")
_UNIT_S = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}


class ApiError(Exception):
    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


# ---- HTTP ------------------------------------------------------------------------------


class Client:
    """Blocking JSON-over-HTTP to the admin API (a CLI has nothing else to do meanwhile)."""

    def __init__(self, url: str, admin_key: str, timeout: float = 30.0) -> None:
        self.base = url.rstrip("/")
        self.admin_key = admin_key
        self.timeout = timeout

    def call(self, method: str, path: str, body: dict[str, Any] | None = None,
             query: dict[str, Any] | None = None) -> Any:
        raw = self.raw(method, path, body, query)
        return json.loads(raw) if raw else None

    def raw(self, method: str, path: str, body: dict[str, Any] | None = None,
            query: dict[str, Any] | None = None) -> bytes:
        url = self.base + API + path
        params = {k: v for k, v in (query or {}).items() if v is not None}
        if params:
            url += "?" + urllib.parse.urlencode(params)
        headers = {"authorization": f"Bearer {self.admin_key}", "accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["content-type"] = "application/json"
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return bytes(resp.read())
        except urllib.error.HTTPError as e:
            raise ApiError(_error_message(e.read(), e.code), e.code) from None
        except urllib.error.URLError as e:
            raise ApiError(f"cannot reach {self.base}: {e.reason}") from None
        except (TimeoutError, ConnectionError) as e:
            raise ApiError(f"cannot reach {self.base}: {e}") from None


def _error_message(body: bytes, status: int) -> str:
    try:
        err = json.loads(body)["error"]
        return f"{err['message']} (HTTP {status}, {err['code']})"
    except (ValueError, KeyError, TypeError):
        return f"HTTP {status}: {body[:200].decode('utf-8', 'replace')}"


# ---- argument types ----------------------------------------------------------------------


def duration(text: str) -> float:
    """"30d", "1h30m", "45s", "2w" or plain seconds."""
    text = text.strip().lower()
    parts = _DURATION.findall(text)
    try:
        seconds = float(text)
    except ValueError:
        if not parts or "".join(n + u for n, u in parts) != text:
            raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 30d, 12h, 1h30m, 90s)") from None
        seconds = sum(float(n) * _UNIT_S[u] for n, u in parts)
    if not 0 <= seconds < float("inf"):
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (must be zero or more)")
    return seconds


def timestamp(text: str) -> float:
    """Epoch seconds or an ISO 8601 time (UTC if no zone is given)."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a time: {text!r} (ISO 8601 or epoch seconds)") from None
    return (t if t.tzinfo else t.replace(tzinfo=UTC)).timestamp()


def csv(text: str) -> list[str]:
    return [v.strip() for v in text.split(",") if v.strip()]


# ---- output ------------------------------------------------------------------------------


def _when(t: float | None) -> str:
    return "-" if t is None else datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%MZ")


def _cell(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, list):
        return ",".join(map(str, v)) or "-"
    return str(v)


def table(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, Callable[[dict[str, Any]], Any]]]) -> str:
    cells = [[h.upper() for h, _ in columns]] + [[_cell(get(r)) for _, get in columns] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells)


def _field(name: str) -> Callable[[dict[str, Any]], Any]:
    return lambda r: r.get(name)


def _time(name: str) -> Callable[[dict[str, Any]], Any]:
    return lambda r: _when(r.get(name))


_KEY_COLS = [("id", _field("id")), ("prefix", _field("prefix")), ("principal", _field("principal_id")),
             ("name", _field("name")), ("created", _time("created_at")), ("expires", _time("expires_at")),
             ("revoked", _time("revoked_at"))]
_TEAM_COLS = [("id", _field("id")), ("name", _field("name")), ("created", _time("created_at"))]
_MEMBER_COLS = [("principal", _field("principal_id")), ("role", _field("role"))]
_PRINCIPAL_COLS = [("id", _field("id")), ("kind", _field("kind")), ("name", _field("name")),
                   ("role", _field("role")), ("email", _field("email")), ("owner", _field("owner_id")),
                   ("on_behalf_of", _field("on_behalf_of")), ("disabled", _field("disabled"))]
_GRANT_COLS = [("id", _field("id")), ("subject", lambda r: f"{r['subject_type']}:{r['subject_id']}"),
               ("models", _field("models")), ("endpoints", _field("endpoints")),
               ("max_tokens", _field("max_tokens")), ("data_classes", _field("data_classes")),
               ("regions", _field("regions"))]


def _details(obj: dict[str, Any]) -> str:
    width = max(len(k) for k in obj)
    lines = []
    for k, v in obj.items():
        lines.append(f"{k.ljust(width)}  {_when(v) if k.endswith('_at') and isinstance(v, (int, float)) else _cell(v)}")
    return "\n".join(lines)


def _emit(args: argparse.Namespace, result: Any, render: Callable[[Any], str]) -> int:
    print(json.dumps(result, indent=2) if args.json else render(result))
    return 0


def _list(cols: Sequence[tuple[str, Callable[[dict[str, Any]], Any]]]) -> Callable[[Any], str]:
    return lambda r: table(r["data"], cols) if r["data"] else "(none)"


def _show_secret(args: argparse.Namespace, result: dict[str, Any]) -> int:
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        shown = {k: v for k, v in result.items() if k not in ("key", "warning", "previous")}
        print(_details(shown))
        if "previous" in result:
            print(f"previous       {result['previous']['id']} valid until {_when(result['previous']['expires_at'])}")
        print(f"\nkey: {result['key']}")
    print("WARNING: this is the only time this key is shown; it is not stored. Save it now.", file=sys.stderr)
    return 0


# ---- commands ------------------------------------------------------------------------------


def _client(args: argparse.Namespace) -> Client:
    url = args.url or os.environ.get("SWITCHGEAR_URL") or DEFAULT_URL
    key = args.admin_key or os.environ.get("SWITCHGEAR_ADMIN_KEY")
    if not key:
        raise ApiError("no admin key: pass --admin-key or set SWITCHGEAR_ADMIN_KEY")
    return Client(url, key)


def _run(fn: Callable[[argparse.Namespace, Client], int]) -> Callable[[argparse.Namespace], int]:
    def command(args: argparse.Namespace) -> int:
        try:
            return fn(args, _client(args))
        except ApiError as e:
            print(f"error: {e}", file=sys.stderr)
            return 1

    return command


def _keys_create(args: argparse.Namespace, c: Client) -> int:
    body: dict[str, Any] = {"principal_id": args.principal, "name": args.name}
    if args.expires_in is not None:
        body["expires_in_s"] = args.expires_in
    if args.expires_at is not None:
        body["expires_at"] = args.expires_at
    return _show_secret(args, c.call("POST", "/keys", body))


def _keys_rotate(args: argparse.Namespace, c: Client) -> int:
    body: dict[str, Any] = {"overlap_s": args.overlap}
    if args.expires_in is not None:
        body["expires_in_s"] = args.expires_in
    return _show_secret(args, c.call("POST", f"/keys/{_seg(args.key_id)}/rotate", body))


def _seg(value: str) -> str:
    # Ids go into the path verbatim but escaped: a '/' or '?' in an id cannot reach another route.
    return urllib.parse.quote(value, safe="")


_PATHS = {"users": "/users", "service-accounts": "/service-accounts", "agents": "/agents"}


def _principal_create(path: str) -> Callable[[argparse.Namespace, Client], int]:
    def run(args: argparse.Namespace, c: Client) -> int:
        body: dict[str, Any] = {"name": args.name}
        for attr, field in (("email", "email"), ("external_id", "external_id"), ("owner", "owner_id"),
                            ("purpose", "purpose"), ("on_behalf_of", "on_behalf_of")):
            value = getattr(args, attr, None)
            if value is not None:
                body[field] = value
        role = getattr(args, "role", None)
        if role is not None:
            body["role"] = role
        return _emit(args, c.call("POST", path, body), _details)

    return run


def _principal_list(path: str) -> Callable[[argparse.Namespace, Client], int]:
    return lambda args, c: _emit(args, c.call("GET", path), _list(_PRINCIPAL_COLS))


def _principal_show(path: str) -> Callable[[argparse.Namespace, Client], int]:
    return lambda args, c: _emit(args, c.call("GET", f"{path}/{_seg(args.id)}"), _details)


def _principal_update(path: str) -> Callable[[argparse.Namespace, Client], int]:
    def run(args: argparse.Namespace, c: Client) -> int:
        body: dict[str, Any] = {}
        role = getattr(args, "role", None)
        if role is not None:
            body["role"] = None if role == "none" else role
        if args.disabled is not None:
            body["disabled"] = args.disabled
        for attr in ("email", "purpose", "on_behalf_of"):
            value = getattr(args, attr, None)
            if value is not None:
                body[attr] = value
        if not body:
            raise ApiError("nothing to change: give at least one option")
        return _emit(args, c.call("PATCH", f"{path}/{_seg(args.id)}", body), _details)

    return run


def _grants_create(args: argparse.Namespace, c: Client) -> int:
    subject_type, subject_id = ("team", args.team) if args.team else ("principal", args.principal)
    body: dict[str, Any] = {"subject_type": subject_type, "subject_id": subject_id, "models": args.models,
                            "endpoints": args.endpoints}
    for attr in ("max_tokens", "data_classes", "regions"):
        value = getattr(args, attr)
        if value is not None:
            body[attr] = value
    return _emit(args, c.call("POST", "/grants", body), _details)


def _done(message: str) -> Callable[[Any], str]:
    return lambda _: message


def _access_review(args: argparse.Namespace, c: Client) -> int:
    result = c.call("GET", "/access-review", query={"window_days": args.window_days, "unused_days": args.unused_days})
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    entries = result["entries"]

    def granted(r: dict[str, Any]) -> str:
        return f"{_cell(r['granted_models'])} ({_cell(r['granted_endpoints'])})"

    def used(r: dict[str, Any]) -> str:
        return f"{_cell(r['used_models'])} ({_cell(r['used_endpoints'])})" if r["used_models"] else "-"

    def flags(r: dict[str, Any]) -> str:
        out = []
        if r["unused"]:
            out.append(f"unused {result['unused_days']}d")
        if r.get("expires_at") is None:
            out.append("no expiry")
        return ", ".join(out) or "-"

    cols = [("credential", _field("credential_id")), ("key", _field("key_id")), ("principal", _field("principal_name")),
            ("kind", _field("principal_kind")), ("granted", granted), ("used", used),
            ("last used", _time("last_used_at")), ("flags", flags)]
    print(f"access review of {result['org_id']}: usage over the last {result['window_days']} days")
    print(table(entries, cols) if entries else "(no credentials)")
    unused = sum(1 for r in entries if r["unused"])
    never = sum(1 for r in entries if r.get("expires_at") is None)
    print(f"\n{unused} credential(s) unused for {result['unused_days']}+ days; {never} without an expiry")
    return 0


def since_time(text: str) -> float:
    """A duration ago ("7d", "12h", "1h30m") or a time (ISO 8601 or epoch seconds)."""
    if _DURATION.findall(text.strip().lower()) and _DURATION.sub("", text.strip().lower()) == "":
        return time.time() - duration(text)
    return timestamp(text)


_SPEND_BY = ("key", "user", "team", "agent", "org", "model", "provider", "day")
# (header, field, format): numbers right-aligned, money in dollars to the micro-dollar.
_SPEND_COLS: tuple[tuple[str, str, Callable[[Any], str]], ...] = (
    ("requests", "requests", "{:,}".format), ("input", "input_tokens", "{:,}".format),
    ("output", "output_tokens", "{:,}".format), ("cached in", "cached_input_tokens", "{:,}".format),
    ("reasoning", "reasoning_tokens", "{:,}".format), ("cost usd", "cost_nano", lambda n: f"{n / 1e9:,.6f}"),
    ("estimated", "estimated_requests", "{:,}".format), ("cached", "cached_requests", "{:,}".format),
)


def spend_table(result: dict[str, Any]) -> str:
    """The report as a table: one row per group, then a TOTAL row (which counts groups
    beyond the shown ones too)."""
    by = result["group_by"]
    head = [by.upper(), *(h.upper() for h, _, _ in _SPEND_COLS)]
    body = [[_cell(r["key"]), *(fmt(r[f]) for _, f, fmt in _SPEND_COLS)] for r in result["data"]]
    total = ["TOTAL", *(fmt(result["total"][f]) for _, f, fmt in _SPEND_COLS)]
    rows = [head, *body, total]
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]

    def line(row: list[str]) -> str:
        return "  ".join([row[0].ljust(widths[0]), *(c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True))])

    rule = "  ".join("-" * w for w in widths)
    out = [f"spend by {by}, {_when(result['since'])} to {_when(result['until'])}", line(head)]
    out += [line(r) for r in body] if body else ["(no spend)"]
    out += [rule, line(total)]
    if result.get("has_more"):
        out.append(f"(showing the first {len(body)} rows; the total covers every {by})")
    return "\n".join(out)


def _spend(args: argparse.Namespace, c: Client) -> int:
    query = {"group_by": args.by, "since": args.since, "until": args.until, "model": args.model,
             "provider": args.provider, "team_id": args.team, "user_id": args.user, "agent_id": args.agent,
             "principal_id": args.principal, "credential_id": args.key, "limit": args.limit}
    return _emit(args, c.call("GET", "/spend", query=query), spend_table)


# ---- the parser ------------------------------------------------------------------------


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the admin commands to the `switchgear` parser's subcommands."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", help=f"gateway URL (default: $SWITCHGEAR_URL or {DEFAULT_URL})")
    common.add_argument("--admin-key", help="admin API key (default: $SWITCHGEAR_ADMIN_KEY — prefer the "
                                            "variable: arguments show up in process lists and shell history)")
    common.add_argument("--json", action="store_true", help="print the API's JSON instead of a table")

    def group(name: str, help: str) -> argparse._SubParsersAction:  # type: ignore[type-arg]
        p = sub.add_parser(name, help=help)
        return p.add_subparsers(dest=f"{name}_command", required=True, metavar="command")

    def leaf(g: argparse._SubParsersAction, name: str, help: str,  # type: ignore[type-arg]
             fn: Callable[[argparse.Namespace, Client], int]) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = g.add_parser(name, help=help, parents=[common])
        p.set_defaults(func=_run(fn))
        return p

    # keys
    g = group("keys", "API keys: create, list, show, rotate, revoke")
    p = leaf(g, "create", "create a key (the secret is printed once)", _keys_create)
    p.add_argument("--principal", required=True, help="the principal the key authenticates as")
    p.add_argument("--name", required=True)
    exp = p.add_mutually_exclusive_group()
    exp.add_argument("--expires-in", type=duration, help="e.g. 30d, 12h")
    exp.add_argument("--expires-at", type=timestamp, help="ISO 8601 time or epoch seconds")
    p = leaf(g, "list", "list keys (never secrets)", lambda a, c: _emit(
        a, c.call("GET", "/keys", query={"principal_id": a.principal}), _list(_KEY_COLS)))
    p.add_argument("--principal", help="only this principal's keys")
    p = leaf(g, "show", "show a key", lambda a, c: _emit(a, c.call("GET", f"/keys/{_seg(a.key_id)}"), _details))
    p.add_argument("key_id")
    p = leaf(g, "rotate", "replace a key; the old one stays valid for --overlap", _keys_rotate)
    p.add_argument("key_id")
    p.add_argument("--overlap", type=duration, default=0.0, help="how long the old key keeps working (e.g. 1h)")
    p.add_argument("--expires-in", type=duration, help="the new key's lifetime (e.g. 90d)")
    p = leaf(g, "revoke", "revoke a key now", lambda a, c: _emit(
        a, c.call("POST", f"/keys/{_seg(a.key_id)}/revoke"), _details))
    p.add_argument("key_id")

    # users, service accounts, agents
    for name, noun in (("users", "user"), ("service-accounts", "service account"), ("agents", "agent")):
        path = _PATHS[name]
        g = group(name, f"{noun}s: create, list, show, update")
        p = leaf(g, "create", f"create a {noun}", _principal_create(path))
        p.add_argument("--name", required=True)
        if name == "users":
            p.add_argument("--email")
            p.add_argument("--external-id")
        if name != "agents":
            p.add_argument("--role", choices=["org_admin", "auditor", "viewer"])
        else:
            p.add_argument("--owner", required=True, help="the user who owns the agent")
            p.add_argument("--purpose", required=True)
            p.add_argument("--on-behalf-of", choices=["required", "optional", "forbidden"])
        leaf(g, "list", f"list {noun}s", _principal_list(path))
        p = leaf(g, "show", f"show a {noun}", _principal_show(path))
        p.add_argument("id")
        p = leaf(g, "update", f"change a {noun}", _principal_update(path))
        p.add_argument("id")
        if name != "agents":
            p.add_argument("--role", choices=["org_admin", "auditor", "viewer", "none"])
            p.add_argument("--email")
        else:
            p.add_argument("--purpose")
            p.add_argument("--on-behalf-of", choices=["required", "optional", "forbidden"])
        state = p.add_mutually_exclusive_group()
        state.add_argument("--disable", dest="disabled", action="store_const", const=True)
        state.add_argument("--enable", dest="disabled", action="store_const", const=False)

    # teams
    g = group("teams", "teams and their members")
    p = leaf(g, "create", "create a team", lambda a, c: _emit(
        a, c.call("POST", "/teams", {"name": a.name}), _details))
    p.add_argument("--name", required=True)
    leaf(g, "list", "list teams", lambda a, c: _emit(a, c.call("GET", "/teams"), _list(_TEAM_COLS)))
    p = leaf(g, "show", "show a team", lambda a, c: _emit(a, c.call("GET", f"/teams/{_seg(a.team_id)}"), _details))
    p.add_argument("team_id")
    p = leaf(g, "members", "list a team's members", lambda a, c: _emit(
        a, c.call("GET", f"/teams/{_seg(a.team_id)}/members"), _list(_MEMBER_COLS)))
    p.add_argument("team_id")
    p = leaf(g, "add-member", "add a principal to a team", lambda a, c: _emit(
        a, c.call("POST", f"/teams/{_seg(a.team_id)}/members", {"principal_id": a.principal_id, "role": a.role}),
        _details))
    p.add_argument("team_id")
    p.add_argument("principal_id")
    p.add_argument("--role", choices=["member", "team_admin"], default="member")
    p = leaf(g, "remove-member", "remove a principal from a team", lambda a, c: _emit(
        a, c.call("DELETE", f"/teams/{_seg(a.team_id)}/members/{_seg(a.principal_id)}") or {"removed": True},
        _done(f"removed {a.principal_id} from {a.team_id}")))
    p.add_argument("team_id")
    p.add_argument("principal_id")

    # grants
    g = group("grants", "grants of models and endpoints")
    p = leaf(g, "create", "grant models and endpoints to a team or principal", _grants_create)
    subject = p.add_mutually_exclusive_group(required=True)
    subject.add_argument("--team")
    subject.add_argument("--principal")
    p.add_argument("--models", type=csv, required=True, help="comma-separated: exact names, prefix/* or *")
    p.add_argument("--endpoints", type=csv, required=True, help="comma-separated: chat,messages,embeddings,models")
    p.add_argument("--max-tokens", type=int)
    p.add_argument("--data-classes", type=csv)
    p.add_argument("--regions", type=csv)
    p = leaf(g, "list", "list grants", lambda a, c: _emit(
        a, c.call("GET", "/grants", query={"subject_id": a.subject}), _list(_GRANT_COLS)))
    p.add_argument("--subject", help="only grants of this team or principal")
    p = leaf(g, "show", "show a grant", lambda a, c: _emit(
        a, c.call("GET", f"/grants/{_seg(a.grant_id)}"), _details))
    p.add_argument("grant_id")
    p = leaf(g, "delete", "delete a grant", lambda a, c: _emit(
        a, c.call("DELETE", f"/grants/{_seg(a.grant_id)}") or {"deleted": True},
        _done(f"deleted {a.grant_id}")))
    p.add_argument("grant_id")

    # whoami
    p = sub.add_parser("whoami", help="who the admin key belongs to and what it may do", parents=[common])
    p.set_defaults(func=_run(lambda a, c: _emit(a, c.call("GET", "/whoami"), _details)))

    # access review
    g = group("access", "access reviews")
    p = leaf(g, "review", "per key: granted vs used models/endpoints, unused keys, keys without expiry",
             _access_review)
    p.add_argument("--window-days", type=int, default=30, help="usage window (default 30)")
    p.add_argument("--unused-days", type=int, default=30, help="flag keys unused this long (default 30)")

    # spend
    p = sub.add_parser("spend", help="spend by key, user, team, agent, org, model, provider or day",
                       parents=[common])
    p.set_defaults(func=_run(_spend))
    p.add_argument("--by", choices=_SPEND_BY, default="model", help="group by (default: model)")
    p.add_argument("--since", type=since_time, help="a duration ago (7d, 12h) or a time (default: 30d)")
    p.add_argument("--until", type=since_time, help="a duration ago or a time (default: now)")
    p.add_argument("--model", help="only this model")
    p.add_argument("--provider", help="only this provider")
    p.add_argument("--team", help="only spend charged to this team")
    p.add_argument("--user", help="only this user's spend (direct or through agents)")
    p.add_argument("--agent", help="only this agent's spend")
    p.add_argument("--principal", help="only this principal's spend")
    p.add_argument("--key", help="only this key's spend (its prefix, sk-sg-…)")
    p.add_argument("--limit", type=int, help="most rows shown (default 1000; the total counts all)")


def main(argv: list[str] | None = None) -> int:
    """The admin commands on their own (the `switchgear` command registers them too)."""
    parser = argparse.ArgumentParser(prog="switchgear")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
