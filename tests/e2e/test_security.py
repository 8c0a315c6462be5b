"""Getting in where one does not belong, end to end: real gateway processes on a real
store (SQLite and PostgreSQL), a local OIDC issuer, the official SDKs as clients and
raw sockets where an attack needs control of the bytes.

Every refusal is checked for its status, the client's own error shape, a message that
names what is missing and never the secret, and (where one is written) its audit entry.
The last test of each backend stops the gateways (SIGTERM flushes the record) and
searches the logs, every error body received and the full audit export for every
secret and token used in the module.

One module-scoped Deployment per backend (one gateway process each, OIDC configured on
both) serves every test; the world it holds (teams, principals, grants, keys) is built
once through the admin API.
"""

from __future__ import annotations

import ast
import hashlib
import hmac
import inspect
import io
import json
import socket
import textwrap
import time
import types
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import anthropic
import httpx2 as httpx
import msgspec
import openai
import pytest
from cryptography.hazmat.primitives import serialization

from switchgear.admin.routes import ROUTES
from switchgear.audit import store as audit_store
from switchgear.audit.export import export_jsonl
from switchgear.config.schema import ClientKey
from switchgear.identity import directory as directory_module
from switchgear.identity import repository as repo
from switchgear.identity.config_keys import config_key_table
from switchgear.identity.directory import Directory
from switchgear.store.database import Database
from tests import stores
from tests.e2e import identity_harness
from tests.e2e.harness import UPSTREAM_KEY, SimThread, gateway_config
from tests.e2e.identity_harness import Deployment
from tests.identity.oidc_issuer import LocalIssuer, b64url, rsa_key
from tests.openapi_schema import assert_error

HELLO: Any = [{"role": "user", "content": "hi"}]
OBO = "x-switchgear-on-behalf-of"
ALL_ENDPOINTS = ["chat", "messages", "embeddings", "models"]
SPOOFED_IP = "203.0.113.77"  # TEST-NET-3: never the real peer
SQL_STRINGS = ["' OR '1'='1", '"; DROP TABLE api_keys; --', "%", "_", "Zoë ✓ 名前 Ω"]
ANTHROPIC_TYPES = {401: "authentication_error", 403: "permission_error", 404: "not_found_error"}


# ---- the gateway config: the e2e models plus one provider that drops unknown fields ------


def _config(sim_url: str) -> dict[str, Any]:
    cfg = gateway_config(sim_url)
    # A vLLM-like server configured to drop fields Switchgear has no canonical home for
    # (README: extra_params reject|drop|pass). It receives exactly the canonical request.
    cfg["providers"].append({"name": "lenient", "vendor": "vllm", "base_url": f"{sim_url}/v1",
                             "api_key": UPSTREAM_KEY, "extra_params": "drop",
                             "timeouts": {"connect": 2, "first_token": 5, "idle": 5, "total": 30}})
    cfg["models"].append({"name": "lenient", "deployments": [{"provider": "lenient", "model": "meta-llama/x"}]})
    return cfg


# ---- replies, and the record of everything received -----------------------------------------


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    text: str

    def json(self) -> Any:
        return json.loads(self.text)

    @property
    def request_id(self) -> str | None:
        return self.headers.get("x-request-id")


@dataclass
class Principals:
    ids: dict[str, str] = field(default_factory=dict)  # name -> principal id
    keys: dict[str, str] = field(default_factory=dict)  # name -> key secret
    key_ids: dict[str, str] = field(default_factory=dict)  # name -> key id
    prefixes: dict[str, str] = field(default_factory=dict)  # name -> visible prefix
    teams: dict[str, str] = field(default_factory=dict)  # name -> team id
    grants: dict[str, str] = field(default_factory=dict)  # name -> grant id
    expiring_at: float = 0.0
    globex_admin: str = ""
    globex_user: str = ""


class Env:
    """One backend's deployment, its world, and everything secret or received."""

    def __init__(self, backend: str, dep: Deployment, sim: SimThread, issuer: LocalIssuer) -> None:
        self.backend = backend
        self.dep = dep
        self.sim = sim
        self.issuer = issuer
        self.url = dep.url
        self.db = Database(dep.store_url)
        self.w = Principals()
        self.secrets: set[str] = {dep.admin_key}
        self.bodies: list[str] = []  # every error body received
        self._entries: dict[str, dict[str, Any]] = {}  # request_id -> stored audit entry
        self._after = 0

    # -- secrets and error bodies --

    def secret(self, *values: str) -> None:
        """Remember a credential: it must appear in no log, error or audit entry."""
        for v in values:
            self.secrets.add(v)
            if v.count(".") == 2 and v.startswith("eyJ"):  # a JWT: its parts too
                self.secrets.update(p for p in v.split(".") if len(p) > 16)

    def received(self, reply: Reply) -> Reply:
        if reply.status >= 400:
            self.bodies.append(reply.text)
            leaked = [s[:24] for s in self.secrets if s in reply.text]
            assert not leaked, f"error body echoes a secret ({leaked}): {reply.text[:300]}"
        return reply

    # -- clients --

    def chat(self, key: str, model: str = "claude", headers: dict[str, str] | None = None, **kw: Any) -> Reply:
        client = openai.OpenAI(base_url=f"{self.url}/v1", api_key=key, max_retries=0, timeout=20,
                               default_headers=headers or {})
        try:
            raw = client.chat.completions.with_raw_response.create(model=model, messages=HELLO, **kw)
            return Reply(raw.status_code, dict(raw.headers), raw.http_response.text)
        except openai.APIStatusError as e:
            return self.received(Reply(e.status_code, dict(e.response.headers), e.response.text))

    def messages(self, key: str, model: str = "claude", headers: dict[str, str] | None = None,
                 max_tokens: int = 50, bearer: bool = False, **kw: Any) -> Reply:
        auth: dict[str, Any] = {"auth_token": key} if bearer else {"api_key": key}
        client = anthropic.Anthropic(base_url=self.url, max_retries=0, timeout=20, default_headers=headers or {},
                                     **auth)
        try:
            raw = client.messages.with_raw_response.create(model=model, max_tokens=max_tokens, messages=HELLO, **kw)
            return Reply(raw.status_code, dict(raw.headers), raw.http_response.text)
        except anthropic.APIStatusError as e:
            return self.received(Reply(e.status_code, dict(e.response.headers), e.response.text))

    def embeddings(self, key: str, model: str = "embed") -> Reply:
        client = openai.OpenAI(base_url=f"{self.url}/v1", api_key=key, max_retries=0, timeout=20)
        try:
            raw = client.embeddings.with_raw_response.create(model=model, input="hi")
            return Reply(raw.status_code, dict(raw.headers), raw.http_response.text)
        except openai.APIStatusError as e:
            return self.received(Reply(e.status_code, dict(e.response.headers), e.response.text))

    def models(self, key: str, headers: dict[str, str] | None = None) -> Reply:
        client = openai.OpenAI(base_url=f"{self.url}/v1", api_key=key, max_retries=0, timeout=20,
                               default_headers=headers or {})
        try:
            raw = client.models.with_raw_response.list()
            return Reply(raw.status_code, dict(raw.headers), raw.http_response.text)
        except openai.APIStatusError as e:
            return self.received(Reply(e.status_code, dict(e.response.headers), e.response.text))

    def http(self, method: str, path: str, headers: dict[str, str] | None = None, body: Any = None) -> Reply:
        r = httpx.request(method, f"{self.url}{path}", headers=headers or {}, timeout=20,
                          **({} if body is None else {"json": body}))
        return self.received(Reply(r.status_code, dict(r.headers), r.text))

    def raw(self, method: str, target: bytes, headers: list[tuple[bytes, bytes]], body: bytes = b"") -> Reply:
        """Exactly these bytes on the wire: no client normalises the path or the headers."""
        host, port = self.url.removeprefix("http://").split(":")
        names = {n.lower() for n, _ in headers}
        head = [f"{method} ".encode() + target + b" HTTP/1.1"]
        if b"host" not in names:
            head.append(f"Host: {host}:{port}".encode())
        head += [n + b": " + v for n, v in headers]
        head += [f"Content-Length: {len(body)}".encode(), b"Connection: close"]
        data = b"\r\n".join(head) + b"\r\n\r\n" + body
        with socket.create_connection((host, int(port)), timeout=20) as s:
            s.sendall(data)
            chunks = []
            while chunk := s.recv(65536):
                chunks.append(chunk)
        raw_head, _, raw_body = b"".join(chunks).partition(b"\r\n\r\n")
        lines = raw_head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        hdrs = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
        return self.received(Reply(status, hdrs, raw_body.decode("utf-8", "replace")))

    # -- the admin API --

    def admin(self, method: str, path: str, body: Any = None, key: str | None = None) -> tuple[int, Any]:
        status, out = self.dep.admin(method, path, body, key=key)
        if status >= 400:
            self.received(Reply(status, {}, json.dumps(out) if not isinstance(out, str) else out))
        return status, out

    def ok(self, method: str, path: str, body: Any = None, key: str | None = None) -> Any:
        status, out = self.admin(method, path, body, key=key)
        assert status < 300, (method, path, status, out)
        return out

    def audit(self, **query: Any) -> list[dict[str, Any]]:
        return self.ok("GET", f"/admin/v1/audit?{urlencode({'limit': 1000, **query})}")["data"]

    def await_audit(self, match: Callable[[dict[str, Any]], bool], **query: Any) -> dict[str, Any]:
        """The first entry the admin API returns that ``match``es (entries are written
        off the request path, within the flush interval)."""
        deadline = time.monotonic() + 15
        while True:
            hits = [e for e in self.audit(**query) if match(e)]
            if hits:
                return hits[0]
            assert time.monotonic() < deadline, f"no audit entry matching {query}"
            time.sleep(0.05)

    def stored_entry(self, request_id: str | None) -> dict[str, Any]:
        """A request's audit entry, read from the store itself (entries without an
        organisation, e.g. unauthenticated requests, are not in any org's admin view)."""
        assert request_id, "the response carries no x-request-id"
        deadline = time.monotonic() + 15
        while request_id not in self._entries:
            rows = self.db.run_sync(lambda c: audit_store.query(c, limit=5000, after_seq=self._after))
            for r in rows:
                e = {"seq": r.seq, **_builtins(r.entry)}
                if e.get("request_id"):
                    self._entries[e["request_id"]] = e
                self._after = r.seq
            if request_id in self._entries:
                break
            assert time.monotonic() < deadline, f"no audit entry for request {request_id}"
            time.sleep(0.05)
        return self._entries[request_id]

    def stored(self, match: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        deadline = time.monotonic() + 15
        while True:
            rows = self.db.run_sync(lambda c: audit_store.query(c, limit=100_000))
            hits = [e for r in rows if match(e := _builtins(r.entry))]
            if hits:
                return hits[-1]
            assert time.monotonic() < deadline, "no matching audit entry in the store"
            time.sleep(0.05)

    def no_secret_in(self, entry: dict[str, Any]) -> None:
        text = json.dumps(entry, ensure_ascii=False)
        leaked = [s[:24] for s in self.secrets if s in text]
        assert not leaked, f"audit entry holds a secret ({leaked}): {text[:300]}"


def _builtins(entry: Any) -> dict[str, Any]:
    return msgspec.to_builtins(entry)  # type: ignore[no-any-return]


# ---- error shapes ------------------------------------------------------------------------------


def openai_error(reply: Reply, status: int, code: str, *needles: str) -> str:
    """The OpenAI envelope, with ``code``; returns the message, which names every needle."""
    assert reply.status == status, reply.text
    body = reply.json()
    assert_error(body)
    err = body["error"]
    assert err["code"] == code, err
    for n in needles:
        assert n in err["message"], (n, err["message"])
    return str(err["message"])


def anthropic_error(reply: Reply, status: int, *needles: str) -> str:
    assert reply.status == status, reply.text
    body = reply.json()
    assert body["type"] == "error" and set(body) == {"type", "error"}, body
    assert body["error"]["type"] == ANTHROPIC_TYPES[status], body
    for n in needles:
        assert n in body["error"]["message"], (n, body["error"]["message"])
    return str(body["error"]["message"])


def deny_entry(env: Env, reply: Reply, rule: str) -> dict[str, Any]:
    e = env.stored_entry(reply.request_id)
    assert (e["decision"], e["rule"], e["status"]) == ("deny", rule, reply.status), e
    assert e["client_ip"] == "127.0.0.1", e
    env.no_secret_in(e)
    return e


# ---- fixtures -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def issuer() -> Iterator[LocalIssuer]:
    local = LocalIssuer()
    local.publish("rsa-1", rsa_key("rsa-1"), "RS256")
    yield local
    local.close()


def _oidc(local: LocalIssuer) -> dict[str, Any]:
    return {"issuer": local.issuer, "audience": LocalIssuer.AUDIENCE, "jwks_url": local.jwks_url,
            "algorithms": ["RS256"], "leeway_s": 0.0, "org": "acme",
            "team_map": {"eng-group": "team-jwt"}, "role_map": {"gateway-admins": "org_admin"}}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def env(request: pytest.FixtureRequest, sim: SimThread, issuer: LocalIssuer,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    workdir = tmp_path_factory.mktemp(f"security-{request.param}")
    store = stores.sqlite_database(str(workdir)) if request.param == "sqlite" else stores.postgres_database()
    with store as url:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(identity_harness, "gateway_config", _config)
            dep = Deployment(url, sim.url, workdir, auth={"oidc": [_oidc(issuer)]})
        e = Env(request.param, dep, sim, issuer)
        try:
            _build_world(e)
            yield e
        finally:
            dep.stop()
            e.db.close_sync()


def _team_member(env: Env, name: str, kind_path: str, models: list[str], team: str | None = None,
                 **grant: Any) -> None:
    """A principal of ``kind_path`` in a team of its own (or ``team``), the team granted
    ``models``, and one key for it."""
    w = env.w
    if team is None:
        team = f"team-{name}"
        w.teams[team] = env.ok("POST", "/admin/v1/teams", {"name": team})["id"]
        g = env.ok("POST", "/admin/v1/grants", {"subject_type": "team", "subject_id": w.teams[team],
                                                "models": models, "endpoints": ALL_ENDPOINTS, **grant})
        w.grants[name] = g["id"]
    p = env.ok("POST", f"/admin/v1/{kind_path}", {"name": name})
    w.ids[name] = p["id"]
    env.ok("POST", f"/admin/v1/teams/{w.teams[team]}/members", {"principal_id": p["id"]})
    _key(env, name)


def _key(env: Env, name: str, **extra: Any) -> dict[str, Any]:
    k = env.ok("POST", "/admin/v1/keys", {"principal_id": env.w.ids[name], "name": f"{name}-key", **extra})
    env.w.keys[name], env.w.key_ids[name], env.w.prefixes[name] = k["key"], k["id"], k["prefix"]
    env.secret(k["key"])
    return k  # type: ignore[no-any-return]


def _agent(env: Env, name: str, on_behalf_of: str, models: list[str]) -> None:
    w = env.w
    a = env.ok("POST", "/admin/v1/agents", {"name": name, "owner_id": w.ids["alice"],
                                            "purpose": "summarise alice's tickets", "on_behalf_of": on_behalf_of})
    w.ids[name] = a["id"]
    g = env.ok("POST", "/admin/v1/grants", {"subject_type": "principal", "subject_id": a["id"], "models": models,
                                            "endpoints": ["chat", "messages", "models"]})
    w.grants[name] = g["id"]
    _key(env, name)


def _build_world(env: Env) -> None:
    w = env.w
    _team_member(env, "svc-a", "service-accounts", ["claude"])
    _team_member(env, "svc-b", "service-accounts", ["gpt"])
    _team_member(env, "anything", "service-accounts", ["*"])
    _team_member(env, "capped", "service-accounts", ["claude", "lenient", "llama"], max_tokens=100)
    _team_member(env, "public-only", "service-accounts", ["claude"], data_classes=["public"])
    _team_member(env, "chat-only", "service-accounts", ["claude", "embed"], endpoints=["chat"])
    _team_member(env, "doomed", "service-accounts", ["claude"])
    _team_member(env, "alice", "users", ["claude", "gemini"])
    _agent(env, "helper", "required", ["claude", "gpt"])
    _agent(env, "solo", "forbidden", ["claude"])
    _agent(env, "flex", "optional", ["claude"])
    # The team an OIDC group maps to (team_map eng-group -> team-jwt).
    w.teams["team-jwt"] = env.ok("POST", "/admin/v1/teams", {"name": "team-jwt"})["id"]
    w.grants["team-jwt"] = env.ok("POST", "/admin/v1/grants", {
        "subject_type": "team", "subject_id": w.teams["team-jwt"], "models": ["claude"],
        "endpoints": ALL_ENDPOINTS})["id"]
    # A key that expires in 3 s: it works now; test_expired_key waits out the rest.
    k = _key(env, "svc-a", expires_in_s=3)
    w.keys["expiring"], w.prefixes["expiring"] = k["key"], k["prefix"]
    w.expiring_at = k["expires_at"]
    assert env.chat(w.keys["expiring"]).status == 200
    _key(env, "svc-a")  # svc-a's everyday key again (the one above is "expiring")
    # Another organisation, written straight to the store (as `switchgear db bootstrap` would).
    def globex(conn: Any) -> tuple[str, str]:
        org = repo.create_org(conn, "globex")
        boss = repo.create_principal(conn, org.id, "user", "boss", role="org_admin")
        mallory = repo.create_principal(conn, org.id, "user", "mallory")
        repo.create_grant(conn, org.id, "principal", mallory.id, models=["claude"],
                          endpoints=["chat", "messages", "models"])
        return repo.create_key(conn, org.id, boss.id, "boss")[1], repo.create_key(conn, org.id, mallory.id, "m")[1]

    w.globex_admin, w.globex_user = env.db.run_sync(globex)
    env.secret(w.globex_admin, w.globex_user)
    # PostgreSQL tells the gateway by NOTIFY: wait until it knows the new keys.
    deadline = time.monotonic() + 15
    while env.dep.admin("GET", "/admin/v1/whoami", key=w.globex_admin)[0] != 200:
        assert time.monotonic() < deadline, "the gateway never loaded the second organisation"
        time.sleep(0.05)


# ==== authentication ===========================================================================


def test_no_key(env: Env) -> None:
    r = env.http("POST", "/v1/chat/completions", body={"model": "claude", "messages": HELLO})
    openai_error(r, 401, "invalid_api_key", "missing API key", "Authorization: Bearer")
    deny_entry(env, r, "invalid_api_key")
    r = env.http("POST", "/v1/messages", {"anthropic-version": "2023-06-01"},
                 {"model": "claude", "max_tokens": 5, "messages": HELLO})
    anthropic_error(r, 401, "missing API key")
    deny_entry(env, r, "invalid_api_key")
    openai_error(env.http("GET", "/v1/models"), 401, "invalid_api_key", "missing API key")
    r = env.http("GET", "/admin/v1/keys")
    openai_error(r, 401, "invalid_api_key", "missing API key")
    assert "data" not in r.json()
    e = env.stored(lambda e: e["action"] == "unauthenticated" and e["details"]["path"] == "/admin/v1/keys")
    assert (e["decision"], e["rule"], e["client_ip"]) == ("deny", "invalid_api_key", "127.0.0.1")


TEN_KB = "sk-sg-" + "A" * 10_240


@pytest.mark.parametrize(("header", "message"), [
    (b"Basic c3ZjOnBhc3N3b3Jk", "malformed Authorization header"),
    (b"Bearer", "malformed Authorization header"),
    (b"Bearer ", "malformed Authorization header"),
    (b"Bearer  ", "malformed Authorization header"),
    (b"Bearer\tsk-sg-tabbed", "malformed Authorization header"),
    (b"Token sk-sg-wrongscheme0123456789", "malformed Authorization header"),
    (b"Bearer  sk-sg-two-spaces-unknown-key", "invalid API key"),
    (b"Bearer sk-sg-a sk-sg-b", "invalid API key"),
    ("Bearer sk-sg-ключ✓-unicode-key-secret".encode(), "invalid API key"),
    ("Bearer sk-sg-\u00e9\u00e8-latin1-key-secret".encode("latin-1"), "invalid API key"),
    (b"Bearer sk-sg-nul\x00byte", None),  # a NUL in a header: the HTTP parser refuses it (400)
    (f"Bearer {TEN_KB}".encode(), "invalid API key"),
])
def test_malformed_authorization(env: Env, header: bytes, message: str | None) -> None:
    raw_secret = (header.split(None, 1) + [b""])[1].strip()
    for secret in {raw_secret.decode("latin-1"), raw_secret.decode("utf-8", "ignore")}:  # as read, as meant
        if len(secret) >= 12:
            env.secret(secret)
    body = json.dumps({"model": "claude", "messages": HELLO}).encode()
    r = env.raw("POST", b"/v1/chat/completions", [(b"Authorization", header),
                                                   (b"Content-Type", b"application/json")], body)
    if message is None:
        assert r.status == 400 and "sk-sg-nul" not in r.text
        return
    openai_error(r, 401, "invalid_api_key", message)
    deny_entry(env, r, "invalid_api_key")
    # The same header on the admin API: 401, and nothing of the admin's data.
    r = env.raw("GET", b"/admin/v1/keys", [(b"Authorization", header)])
    assert r.status == 401 and "data" not in r.json(), r.text


def test_unknown_key_and_sql_strings_as_keys(env: Env) -> None:
    keys_before = env.ok("GET", "/admin/v1/keys")["data"]
    count = env.db.run_sync(lambda c: c.one("SELECT count(*) FROM api_keys")[0])
    unknown = "sk-sg-unknown0_" + "x" * 43
    env.secret(unknown)  # (the SQL strings are names elsewhere: stored and shown verbatim there)
    for key in [unknown, *SQL_STRINGS]:
        r = env.raw("POST", b"/v1/chat/completions",
                    [(b"Authorization", b"Bearer " + key.encode()), (b"Content-Type", b"application/json")],
                    json.dumps({"model": "claude", "messages": HELLO}).encode())
        openai_error(r, 401, "invalid_api_key", "invalid API key")
        deny_entry(env, r, "invalid_api_key")
        r = env.raw("POST", b"/v1/messages",
                    [(b"x-api-key", key.encode()), (b"anthropic-version", b"2023-06-01"),
                     (b"Content-Type", b"application/json")],
                    json.dumps({"model": "claude", "max_tokens": 5, "messages": HELLO}).encode())
        anthropic_error(r, 401, "invalid API key")
        r = env.raw("GET", b"/admin/v1/whoami", [(b"x-api-key", key.encode())])
        openai_error(r, 401, "invalid_api_key", "invalid API key")
    # The store is intact: same keys, still working, the table still there.
    assert env.ok("GET", "/admin/v1/keys")["data"] == keys_before
    assert env.chat(env.w.keys["svc-a"]).status == 200
    assert env.db.run_sync(lambda c: c.one("SELECT count(*) FROM api_keys")[0]) == count


def test_revoked_key(env: Env) -> None:
    k = _key(env, "doomed")
    assert env.chat(k["key"]).status == 200
    revoked = env.ok("POST", f"/admin/v1/keys/{k['id']}/revoke")
    assert revoked["revoked_at"] is not None and "key" not in revoked
    r = env.chat(k["key"])
    openai_error(r, 401, "invalid_api_key", "revoked", k["prefix"])
    deny_entry(env, r, "invalid_api_key")
    anthropic_error(env.messages(k["key"]), 401, "revoked")


def test_rotated_key_without_overlap(env: Env) -> None:
    old = _key(env, "doomed")
    assert env.chat(old["key"]).status == 200
    new = env.ok("POST", f"/admin/v1/keys/{old['id']}/rotate", {"overlap_s": 0})
    env.secret(new["key"])
    assert new["key"] != old["key"] and new["previous"]["id"] == old["id"]
    openai_error(env.chat(old["key"]), 401, "invalid_api_key", "expired", old["prefix"])
    assert env.chat(new["key"]).status == 200


def test_expired_key(env: Env) -> None:
    # Waiting for a clock to pass a deadline (not measuring anything): usually no wait at all.
    while time.time() <= env.w.expiring_at + 0.05:
        time.sleep(0.05)
    r = env.chat(env.w.keys["expiring"])
    openai_error(r, 401, "invalid_api_key", "expired", env.w.prefixes["expiring"])
    deny_entry(env, r, "invalid_api_key")
    anthropic_error(env.messages(env.w.keys["expiring"]), 401, "expired")


def test_disabled_principal(env: Env) -> None:
    _team_member(env, "fired", "service-accounts", ["claude"])
    assert env.chat(env.w.keys["fired"]).status == 200
    env.ok("PATCH", f"/admin/v1/service-accounts/{env.w.ids['fired']}", {"disabled": True})
    r = env.chat(env.w.keys["fired"])
    openai_error(r, 401, "invalid_api_key", "disabled")


@pytest.mark.parametrize("param", ["api_key", "key", "x-api-key", "access_token", "authorization"])
def test_key_in_query_string_is_never_read(env: Env, param: str, sim: SimThread) -> None:
    key = env.w.keys["anything"]
    q = urlencode({param: key if param != "authorization" else f"Bearer {key}"})
    r = env.http("POST", f"/v1/chat/completions?{q}", body={"model": "claude", "messages": HELLO})
    openai_error(r, 401, "invalid_api_key", "missing API key")
    deny_entry(env, r, "invalid_api_key")
    r = env.http("POST", f"/v1/messages?{q}", {"anthropic-version": "2023-06-01"},
                 {"model": "claude", "max_tokens": 5, "messages": HELLO})
    anthropic_error(r, 401, "missing API key")
    r = env.http("GET", f"/admin/v1/whoami?{urlencode({param: env.dep.admin_key})}")
    openai_error(r, 401, "invalid_api_key", "missing API key")
    assert sim.requests() == []


# ==== authorization: grants ======================================================================


def test_another_teams_model(env: Env, sim: SimThread) -> None:
    w = env.w
    assert env.chat(w.keys["svc-b"], "gpt").status == 200
    r = env.chat(w.keys["svc-a"], "gpt")
    msg = openai_error(r, 403, "model_not_granted", "model 'gpt'", "service_account 'svc-a'", w.prefixes["svc-a"])
    assert "permission_error" == r.json()["error"]["type"] and "gpt" in msg
    e = deny_entry(env, r, "model_not_granted")
    assert (e["principal_id"], e["credential_id"], e["model"]) == (w.ids["svc-a"], w.prefixes["svc-a"], "gpt")
    r = env.messages(w.keys["svc-a"], "gpt")
    anthropic_error(r, 403, "model 'gpt'", "endpoint 'messages'")
    deny_entry(env, r, "model_not_granted")
    # Also visible to the organisation's auditors through the admin API.
    env.await_audit(lambda e: e.get("request_id") == r.request_id and e["rule"] == "model_not_granted",
                    principal_id=w.ids["svc-a"], decision="deny")
    # SQL in a model name: refused by name, verbatim, never reaching an upstream.
    for model in SQL_STRINGS:
        openai_error(env.chat(w.keys["svc-a"], model), 403, "model_not_granted", f"model '{model}'")
        assert env.chat(w.keys["anything"], model).status == 404
    assert len(sim.requests()) == 1  # only svc-b's own call reached an upstream


def test_max_tokens_above_the_grant(env: Env, sim: SimThread) -> None:
    key = env.w.keys["capped"]
    r = env.chat(key, max_tokens=500)
    openai_error(r, 403, "max_tokens_not_granted", "max_tokens 500", "granted at most 100")
    deny_entry(env, r, "max_tokens_not_granted")
    r = env.chat(key, max_completion_tokens=101)
    openai_error(r, 403, "max_tokens_not_granted", "max_tokens 101")
    anthropic_error(env.messages(key, max_tokens=5000), 403, "max_tokens 5000", "granted at most 100")
    assert sim.requests() == []
    # Asking for no limit under a capped grant: the cap is what the upstream is asked for.
    assert env.chat(key).status == 200
    assert env.chat(key, max_tokens=100).status == 200
    bodies = [q["body"] for q in sim.requests()]
    assert [b.get("max_completion_tokens", b.get("max_tokens")) for b in bodies] == [100, 100], bodies


@pytest.mark.parametrize(("endpoint", "model"), [("messages", "lenient"), ("messages", "claude"),
                                                  ("chat", "llama")])
def test_max_tokens_cap_is_not_bypassed_by_a_second_token_field(
        env: Env, sim: SimThread, endpoint: str, model: str) -> None:
    """A grant capped at 100 tokens; the body asks for 5000 in the dialect's own field and
    adds a small value under the *other* dialect's name. Authorize must judge the limit
    the request will actually carry: no upstream may be asked for more than the grant."""
    key = env.w.keys["capped"]
    body = {"model": model, "messages": HELLO, "max_tokens": 5000, "max_completion_tokens": 50}
    path = "/v1/messages" if endpoint == "messages" else "/v1/chat/completions"
    headers = {"x-api-key": key, "anthropic-version": "2023-06-01"} if endpoint == "messages" else \
        {"authorization": f"Bearer {key}"}
    r = env.http("POST", path, headers, body)
    sent = [{k: v for k, v in q["body"].items() if "max" in k} for q in sim.requests()]
    over = [s for s in sent if any(isinstance(v, int) and v > 100 for v in s.values())]
    assert not over, (f"grant capped at max_tokens 100, yet the upstream was asked for {over} "
                      f"(gateway answered {r.status})")
    assert r.status in (400, 403), r.text


def test_data_class_not_granted(env: Env, sim: SimThread) -> None:
    key = env.w.keys["public-only"]
    r = env.chat(key, headers={"x-switchgear-data-class": "confidential"})
    openai_error(r, 403, "data_class_not_granted", "data class confidential", "model 'claude'")
    deny_entry(env, r, "data_class_not_granted")
    r = env.messages(key, headers={"x-switchgear-data-class": "public, Restricted"})
    anthropic_error(r, 403, "data class public, restricted")
    assert sim.requests() == []


def test_endpoint_not_granted(env: Env, sim: SimThread) -> None:
    key = env.w.keys["chat-only"]
    assert env.chat(key).status == 200
    r = env.embeddings(key)
    openai_error(r, 403, "endpoint_not_granted", "endpoint 'embeddings'")
    deny_entry(env, r, "endpoint_not_granted")
    r = env.messages(key)
    anthropic_error(r, 403, "endpoint 'messages'")
    deny_entry(env, r, "endpoint_not_granted")
    openai_error(env.models(key), 403, "endpoint_not_granted", "endpoint 'models'")
    assert len(sim.requests()) == 1


def test_model_list_shows_only_granted_models(env: Env) -> None:
    ids = [m["id"] for m in env.models(env.w.keys["svc-a"]).json()["data"]]
    assert ids == ["claude"]


# ==== agents ==================================================================================


def test_agent_without_on_behalf_of_where_required(env: Env) -> None:
    w = env.w
    r = env.chat(w.keys["helper"])
    openai_error(r, 403, "on_behalf_of_required", "agent 'helper'", OBO)
    deny_entry(env, r, "on_behalf_of_required")
    anthropic_error(env.messages(w.keys["helper"]), 403, "must act on behalf of a user")
    openai_error(env.models(w.keys["helper"]), 403, "on_behalf_of_required")
    # An optional agent may act as itself, within its own scope.
    assert env.chat(w.keys["flex"]).status == 200


def test_agent_acting_for_a_user_gets_only_what_both_allow(env: Env) -> None:
    w = env.w
    obo = {OBO: w.keys["alice"]}
    ok = env.chat(w.keys["helper"], "claude", headers=obo)  # agent: claude, gpt; alice: claude, gemini
    assert ok.status == 200
    assert env.messages(w.keys["helper"], "claude", headers=obo).status == 200
    r = env.chat(w.keys["helper"], "gpt", headers=obo)  # the agent may, alice may not
    openai_error(r, 403, "model_not_granted", "user 'alice'", "agent 'helper'", "model 'gpt'")
    deny_entry(env, r, "model_not_granted")
    r = env.chat(w.keys["helper"], "gemini", headers=obo)  # alice may, the agent may not: beyond its scope
    msg = openai_error(r, 403, "model_not_granted", "agent 'helper'", "model 'gemini'")
    assert "user 'alice'" not in msg
    anthropic_error(env.messages(w.keys["helper"], "gemini", headers=obo), 403, "agent 'helper'")
    # The model list is the intersection too.
    assert [m["id"] for m in env.models(w.keys["helper"], headers=obo).json()["data"]] == ["claude"]
    # The record names both the agent and the user it acted for.
    allowed = env.await_audit(lambda e: e.get("request_id") == ok.request_id, agent_id=w.ids["helper"])
    assert (allowed["decision"], allowed["agent_id"], allowed["on_behalf_of_id"], allowed["on_behalf_of_name"]) == \
        ("allow", w.ids["helper"], w.ids["alice"], "alice")
    assert allowed["rule"] == f"{w.grants['helper']}&{w.grants['alice']}"
    denied = env.await_audit(lambda e: e.get("request_id") == r.request_id, agent_id=w.ids["helper"],
                             decision="deny")
    assert (denied["agent_id"], denied["on_behalf_of_id"], denied["rule"]) == \
        (w.ids["helper"], w.ids["alice"], "model_not_granted")
    env.no_secret_in(allowed)
    env.no_secret_in(denied)


@pytest.mark.parametrize(("acting_for", "needle"), [
    ("svc-a", "belongs to a service_account, not a user"),
    ("flex", "belongs to a agent, not a user"),
    ("globex_user", "cannot act for a user of another organisation"),
])
def test_on_behalf_of_someone_who_is_not_a_user_of_the_org(env: Env, acting_for: str, needle: str) -> None:
    w = env.w
    cred = w.globex_user if acting_for == "globex_user" else w.keys[acting_for]
    r = env.chat(w.keys["helper"], headers={OBO: cred})
    openai_error(r, 403, "on_behalf_of_denied", needle)
    deny_entry(env, r, "on_behalf_of_denied")
    anthropic_error(env.messages(w.keys["helper"], headers={OBO: cred}), 403, needle)


def test_on_behalf_of_with_a_bad_user_credential(env: Env) -> None:
    bogus = "sk-sg-notauser_" + "q" * 40
    env.secret(bogus)
    r = env.chat(env.w.keys["helper"], headers={OBO: bogus})
    openai_error(r, 401, "invalid_api_key", "on-behalf-of credential: invalid API key")
    deny_entry(env, r, "invalid_api_key")


def test_non_agent_sending_on_behalf_of(env: Env) -> None:
    w = env.w
    for who in ["svc-a", "alice"]:
        r = env.chat(w.keys[who], headers={OBO: w.keys["alice"]})
        openai_error(r, 403, "on_behalf_of_denied", "is not an agent", f"'{who}'")
        deny_entry(env, r, "on_behalf_of_denied")
    anthropic_error(env.messages(w.keys["svc-a"], headers={OBO: w.keys["alice"]}), 403, "is not an agent")
    # Nor on the admin API: an org admin sending the header is refused, not "delegated".
    r = env.http("GET", "/admin/v1/whoami", {"authorization": f"Bearer {env.dep.admin_key}", OBO: w.keys["alice"]})
    openai_error(r, 403, "on_behalf_of_denied", "is not an agent")


def test_agent_forbidden_to_act_for_users(env: Env) -> None:
    w = env.w
    r = env.chat(w.keys["solo"], headers={OBO: w.keys["alice"]})
    openai_error(r, 403, "on_behalf_of_denied", "agent 'solo'", "only as itself")
    deny_entry(env, r, "on_behalf_of_denied")
    assert env.chat(w.keys["solo"]).status == 200


# ==== the admin API ===========================================================================


def _route_paths(env: Env) -> list[tuple[str, str, Any]]:
    w = env.w
    params = {"team_id": w.teams["team-svc-a"], "principal_id": w.ids["svc-a"], "key_id": w.key_ids["svc-a"],
              "grant_id": w.grants["svc-a"]}
    out = []
    for r in ROUTES:
        path = r.template.format(**params)
        if "/users/" in path:
            path = path.replace(w.ids["svc-a"], w.ids["alice"])
        if "/agents/" in path:
            path = path.replace(w.ids["svc-a"], w.ids["helper"])
        body = {"name": "x"} if r.body is not None else None
        out.append((r.method, path, body))
    return out


def test_admin_routes_refuse_data_plane_keys(env: Env) -> None:
    w = env.w
    teams_before = env.ok("GET", "/admin/v1/teams")["data"]
    callers = {"service account": {"authorization": f"Bearer {w.keys['anything']}"},
               "user": {"x-api-key": w.keys["alice"]},
               "agent": {"authorization": f"Bearer {w.keys['flex']}"},
               "agent for an org admin": {"authorization": f"Bearer {w.keys['helper']}", OBO: env.dep.admin_key}}
    routes = _route_paths(env)
    assert any(path == "/admin/v1/whoami" for _, path, _ in routes)
    for who, headers in callers.items():
        for method, path, body in routes:
            r = env.http(method, path, headers, body)
            action = openai_error(r, 403, "permission_denied", "caller holds no admin role")
            assert "data" not in r.json() and "requires role" in action, (who, path)
    assert env.ok("GET", "/admin/v1/teams")["data"] == teams_before  # no POST got through
    e = env.await_audit(lambda e: e["action"] == "keys.list" and e["principal_id"] == w.ids["anything"],
                        principal_id=w.ids["anything"], decision="deny")
    assert e["rule"] == "permission_denied"
    env.no_secret_in(e)


ADMIN_TRICKS = [
    b"//admin/v1/keys", b"/admin//v1/keys", b"/ADMIN/v1/keys", b"/Admin/v1/keys", b"/admin/v1/KEYS",
    b"/admin/v1/keys/", b"/admin/v1/%6Beys", b"/%61dmin/v1/keys", b"/admin%2Fv1%2Fkeys",
    b"/admin/v1/keys%2F..%2Fteams", b"/admin/v1/../v1/keys", b"/admin/v1/./keys", b"/admin/v1/keys/.",
    b"/admin/v1/keys;x", b"/admin/v1/keys%00", b"/admin/v1/keys%20", b"/admin/v1/whoami/..%2Fkeys",
    b"/admin/v2/../v1/keys", b"/v1/../admin/v1/keys", b"http://localhost/admin/v1/keys",
    b"/admin/v1/teams/%2e%2e", b"/admin/v1/teams/..", b"/admin/v1/teams/team_x/../../keys",
]


@pytest.mark.parametrize("target", ADMIN_TRICKS, ids=lambda t: t.decode())
def test_admin_path_tricks(env: Env, target: bytes) -> None:
    admin = [(b"Authorization", f"Bearer {env.dep.admin_key}".encode())]
    control = env.raw("GET", b"/admin/v1/keys", admin)
    assert control.status == 200 and control.json()["data"]  # the real path does list keys
    r = env.raw("GET", target, admin)
    assert r.status == 404, (target, r.status, r.text)
    assert_error(r.json())
    assert '"data"' not in r.text and "sk-sg-" not in r.text.replace(target.decode(), "")
    for key in (env.w.keys["anything"], env.w.keys["alice"]):
        r = env.raw("GET", target, [(b"Authorization", f"Bearer {key}".encode())])
        assert r.status in (403, 404), (target, r.status, r.text)
        assert '"data"' not in r.text
    r = env.raw("GET", target, [])
    assert r.status in (401, 404) and '"data"' not in r.text


DATA_PLANE_TRICKS = [
    b"/v1/chat/completions/", b"//v1/chat/completions", b"/v1//chat/completions", b"/V1/chat/completions",
    b"/v1/Chat/Completions", b"/v1/chat%2Fcompletions", b"/v1/chat/completions%2F", b"/v1/%63hat/completions",
    b"/v1/chat/./completions", b"/v1/x/../chat/completions", b"/v1/chat/completions;a=b",
    b"/v1/chat/completions%00", b"/v1/messages/", b"//v1/messages", b"/v1/models/",
    b"http://localhost/v1/chat/completions",
]


@pytest.mark.parametrize("target", DATA_PLANE_TRICKS, ids=lambda t: t.decode())
def test_data_plane_path_tricks(env: Env, sim: SimThread, target: bytes) -> None:
    key = env.w.keys["anything"].encode()
    body = json.dumps({"model": "claude", "max_tokens": 5, "messages": HELLO}).encode()
    method = "GET" if b"models" in target else "POST"
    r = env.raw(method, target, [(b"Authorization", b"Bearer " + key), (b"x-api-key", key),
                                 (b"anthropic-version", b"2023-06-01"), (b"Content-Type", b"application/json")],
                body if method == "POST" else b"")
    assert r.status == 404, (target, r.status, r.text)
    assert "unknown endpoint" in r.text and '"data"' not in r.text
    assert sim.requests() == []


SPOOF = [(b"Host", b"localhost"), (b"X-Forwarded-For", b"127.0.0.1"), (b"X-Real-IP", b"127.0.0.1"),
         (b"X-Forwarded-Host", b"localhost"), (b"Forwarded", b"for=127.0.0.1;host=localhost"),
         (b"X-Original-URL", b"/admin/v1/keys"), (b"X-Rewrite-URL", b"/admin/v1/keys"),
         (b"X-Forwarded-Prefix", b"/admin/v1"), (b"X-Client-IP", b"127.0.0.1")]


def test_spoofed_host_and_forwarded_headers_grant_nothing(env: Env, sim: SimThread) -> None:
    body = json.dumps({"model": "claude", "messages": HELLO}).encode()
    ctype = [(b"Content-Type", b"application/json")]
    # No key: still 401, whatever "local" the headers claim.
    r = env.raw("POST", b"/v1/chat/completions", SPOOF + ctype, body)
    openai_error(r, 401, "invalid_api_key", "missing API key")
    for path in (b"/admin/v1/whoami", b"/admin/v1/keys"):
        r = env.raw("GET", path, SPOOF)
        assert r.status == 401 and '"data"' not in r.text, r.text
    # A data-plane key with the headers: still no admin.
    auth = [(b"Authorization", f"Bearer {env.w.keys['anything']}".encode())]
    r = env.raw("GET", b"/admin/v1/keys", SPOOF + auth)
    openai_error(r, 403, "permission_denied", "caller holds no admin role")
    # A rewrite header on a public endpoint routes nowhere else.
    r = env.raw("GET", b"/health", SPOOF)
    assert r.status == 200 and r.json() == {"status": "ok"}
    assert sim.requests() == []


def test_audit_client_ip_is_the_socket_peer(env: Env) -> None:
    spoof = [(b"X-Forwarded-For", f"{SPOOFED_IP}, 10.1.2.3".encode()), (b"X-Real-IP", SPOOFED_IP.encode()),
             (b"Forwarded", f"for={SPOOFED_IP}".encode()), (b"X-Forwarded-Host", b"evil.example"),
             (b"Host", b"evil.example"), (b"Content-Type", b"application/json")]
    body = json.dumps({"model": "claude", "messages": HELLO}).encode()
    allowed = env.raw("POST", b"/v1/chat/completions",
                      spoof + [(b"Authorization", f"Bearer {env.w.keys['svc-a']}".encode())], body)
    assert allowed.status == 200, allowed.text
    denied = env.raw("POST", b"/v1/chat/completions", spoof, body)
    assert denied.status == 401
    for reply in (allowed, denied):
        e = env.stored_entry(reply.request_id)
        assert e["client_ip"] == "127.0.0.1", e
        assert SPOOFED_IP not in json.dumps(e) and "evil.example" not in json.dumps(e), e
    env.raw("GET", b"/admin/v1/teams?spoofed=1", spoof)
    e = env.stored(lambda e: e["action"] == "unauthenticated" and e["details"]["path"] == "/admin/v1/teams")
    assert e["client_ip"] == "127.0.0.1" and SPOOFED_IP not in json.dumps(e)


def test_admin_audit_records_the_socket_peer(env: Env) -> None:
    """An admin action's audit entry says where it came from: the socket peer, like a
    request's entry (and never a spoofed forwarding header)."""
    name = f"spoofed-{uuid.uuid4().hex[:8]}"
    r = env.raw("POST", b"/admin/v1/teams",
                [(b"Authorization", f"Bearer {env.dep.admin_key}".encode()), (b"Content-Type", b"application/json"),
                 (b"X-Forwarded-For", SPOOFED_IP.encode()), (b"X-Real-IP", SPOOFED_IP.encode())],
                json.dumps({"name": name}).encode())
    assert r.status == 201, r.text
    e = env.await_audit(lambda e: (e.get("details") or {}).get("body", {}).get("name") == name,
                        action="teams.create")
    assert SPOOFED_IP not in json.dumps(e), e
    assert e.get("client_ip") == "127.0.0.1", f"admin audit entry has no client_ip: {e}"


# ==== SQL injection strings in names, ids and filters ================================================


def test_sql_strings_as_names_are_stored_verbatim(env: Env) -> None:
    for s in SQL_STRINGS:
        team = env.ok("POST", "/admin/v1/teams", {"name": s})
        assert team["name"] == s
        assert env.ok("GET", f"/admin/v1/teams/{team['id']}")["name"] == s
        for kind in ("users", "service-accounts"):
            p = env.ok("POST", f"/admin/v1/{kind}", {"name": s})
            assert p["name"] == s and env.ok("GET", f"/admin/v1/{kind}/{p['id']}")["name"] == s
            assert [x["name"] for x in env.ok("GET", f"/admin/v1/{kind}")["data"]].count(s) == 1
        # the same name again is a conflict naming it (the check is by value, not by pattern)
        status, out = env.admin("POST", "/admin/v1/teams", {"name": s})
        assert status == 409 and s in out["error"]["message"], out
    names = [t["name"] for t in env.ok("GET", "/admin/v1/teams")["data"]]
    assert all(names.count(s) == 1 for s in SQL_STRINGS) and "team-svc-a" in names


def test_sql_strings_as_ids_and_filters(env: Env) -> None:
    keys_before = env.ok("GET", "/admin/v1/keys")["data"]
    for s in SQL_STRINGS + ["team_' OR 1=1 --", "key_%", "*"]:
        q = quote(s, safe="")
        for method, path in [("GET", f"/admin/v1/teams/{q}"), ("GET", f"/admin/v1/keys/{q}"),
                             ("GET", f"/admin/v1/users/{q}"), ("POST", f"/admin/v1/keys/{q}/revoke"),
                             ("DELETE", f"/admin/v1/grants/{q}"), ("GET", f"/admin/v1/teams/{q}/members"),
                             ("DELETE", f"/admin/v1/teams/{env.w.teams['team-svc-a']}/members/{q}")]:
            status, out = env.admin(method, path)
            assert status == 404, (method, path, status, out)
        for path, name in [("/admin/v1/keys", "principal_id"), ("/admin/v1/grants", "subject_id"),
                           ("/admin/v1/audit", "principal_id"), ("/admin/v1/audit", "agent_id")]:
            assert env.ok("GET", f"{path}?{urlencode({name: s})}")["data"] == [], (path, s)
        assert env.ok("GET", f"/admin/v1/audit?{urlencode({'action': s})}")["data"] == []
        assert env.ok("GET", f"/admin/v1/audit?{urlencode({'credential_id': s})}")["data"] == []
    assert env.ok("GET", "/admin/v1/keys")["data"] == keys_before
    assert env.chat(env.w.keys["svc-a"]).status == 200
    for table in ("api_keys", "principals", "teams", "grants", "audit_log"):
        assert env.db.run_sync(lambda c, t=table: c.one(f"SELECT count(*) FROM {t}")[0]) > 0, table


def test_other_organisation_is_invisible(env: Env) -> None:
    boss = env.w.globex_admin
    for path in [f"/admin/v1/teams/{env.w.teams['team-svc-a']}", f"/admin/v1/keys/{env.w.key_ids['svc-a']}",
                 f"/admin/v1/service-accounts/{env.w.ids['svc-a']}"]:
        status, out = env.admin("GET", path, key=boss)
        assert status == 404, (path, out)
    assert env.ok("GET", "/admin/v1/teams", key=boss)["data"] == []
    assert all(e.get("org_id") != env.dep.org.id for e in env.ok("GET", "/admin/v1/audit", key=boss)["data"])


# ==== JWTs from a configured OIDC issuer ===========================================================


def _unsigned(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    return ".".join([b64url(json.dumps(header).encode()), b64url(json.dumps(claims).encode()), b64url(signature)])


def _hs256_with_public_key(local: LocalIssuer) -> str:
    pem = rsa_key("rsa-1").public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo)
    header = {"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}
    signing_input = ".".join([b64url(json.dumps(header).encode()),
                              b64url(json.dumps(local.claims(groups=["eng-group"])).encode())])
    return f"{signing_input}.{b64url(hmac.new(pem, signing_input.encode(), hashlib.sha256).digest())}"


def _tampered(local: LocalIssuer) -> str:
    header, _, signature = local.token("rsa-1", groups=[]).split(".")
    evil = b64url(json.dumps(local.claims(groups=["eng-group"], roles=["gateway-admins"])).encode())
    return f"{header}.{evil}.{signature}"


FORGED: dict[str, tuple[Callable[[LocalIssuer], str], str]] = {
    "expired": (lambda i: i.token("rsa-1", groups=["eng-group"], exp=int(time.time()) - 5), "token expired"),
    "wrong issuer": (lambda i: i.token("rsa-1", iss="https://evil.example"), "is not configured"),
    "issuer with trailing slash": (lambda i: i.token("rsa-1", iss=i.issuer + "/"), "is not configured"),
    "wrong audience": (lambda i: i.token("rsa-1", aud="another-service"), "audience mismatch"),
    "no audience": (lambda i: i.token("rsa-1", aud=None), "missing the 'aud' claim"),
    "alg none": (lambda i: _unsigned({"alg": "none", "typ": "JWT", "kid": "rsa-1"}, i.claims(groups=["eng-group"])),
                 "algorithm 'none' is not allowed"),
    "alg None with a signature": (lambda i: _unsigned({"alg": "None", "kid": "rsa-1"}, i.claims(), b"sig"),
                                  "algorithm 'none' is not allowed"),
    "HS256 keyed with the RSA public key": (_hs256_with_public_key, "algorithm 'HS256' is not allowed"),
    "other private key, known kid": (lambda i: i.token("rsa-1", key=rsa_key("attacker"), groups=["eng-group"]),
                                     "signature verification failed"),
    "tampered payload": (_tampered, "signature verification failed"),
    "unknown kid": (lambda i: i.token("kid-of-nobody", key=rsa_key("attacker")), "unknown signing key id"),
    "not yet valid": (lambda i: i.token("rsa-1", nbf=int(time.time()) + 600), "not yet valid"),
}


def test_valid_jwt_gets_its_mapped_teams_grant(env: Env) -> None:
    token = env.issuer.token("rsa-1", sub=f"ada-{env.backend}", groups=["eng-group", "unmapped"])
    env.secret(token)
    ok = env.chat(token, "claude")
    assert ok.status == 200, ok.text
    assert env.messages(token, "claude").status == 200
    assert env.messages(token, "claude", bearer=True).status == 200
    r = env.chat(token, "gpt")  # team-jwt grants claude only
    openai_error(r, 403, "model_not_granted", "model 'gpt'", f"jwt:127.0.0.1:{env.issuer.issuer.rsplit(':', 1)[1]}")
    e = deny_entry(env, r, "model_not_granted")
    assert e["credential_id"].startswith("jwt:") and e["principal_kind"] == "user"
    allowed = env.stored_entry(ok.request_id)
    assert allowed["rule"] == env.w.grants["team-jwt"] and allowed["decision"] == "allow"
    env.no_secret_in(allowed)
    # A token for no mapped group: no grant at all.
    bare = env.issuer.token("rsa-1", sub=f"bob-{env.backend}")
    env.secret(bare)
    openai_error(env.chat(bare, "claude"), 403, "endpoint_not_granted", "endpoint 'chat'")


@pytest.mark.parametrize("case", list(FORGED))
def test_forged_and_expired_jwts(env: Env, case: str) -> None:
    make, needle = FORGED[case]
    token = make(env.issuer)
    env.secret(token)
    r = env.chat(token, "claude")
    msg = openai_error(r, 401, "invalid_api_key", needle)
    assert all(part not in msg for part in token.split(".") if len(part) > 8)
    deny_entry(env, r, "invalid_api_key")
    anthropic_error(env.messages(token, "claude"), 401, needle)
    r = env.http("GET", "/admin/v1/whoami", {"authorization": f"Bearer {token}"})
    openai_error(r, 401, "invalid_api_key", needle)
    # And as the user an agent claims to act for.
    r = env.chat(env.w.keys["helper"], headers={OBO: token})
    openai_error(r, 401, "invalid_api_key", "on-behalf-of credential", needle)


def test_jwt_rights_come_from_the_token_presented(env: Env) -> None:
    """Two valid tokens for one subject, same expiry, different claims: each must get the
    rights of its own claims. (The directory caches a token's principal by subject.)"""
    sub, exp = f"carol-{uuid.uuid4().hex[:6]}", int(time.time()) + 300
    admin_token = env.issuer.token("rsa-1", sub=sub, exp=exp, groups=["eng-group"], roles=["gateway-admins"])
    plain_token = env.issuer.token("rsa-1", sub=sub, exp=exp)
    env.secret(admin_token, plain_token)
    who = env.http("GET", "/admin/v1/whoami", {"authorization": f"Bearer {admin_token}"})
    assert who.status == 200 and who.json()["role"] == "org_admin"
    assert env.chat(admin_token, "claude").status == 200
    # The second token carries no group and no role: no grant, no admin role.
    r = env.http("GET", "/admin/v1/whoami", {"authorization": f"Bearer {plain_token}"})
    assert r.status == 403, f"a token without the admin role claim got: {r.status} {r.text[:200]}"
    r = env.chat(plain_token, "claude")
    assert r.status == 403, f"a token without the group claim used team-jwt's grant: {r.status}"


def test_disabled_user_is_locked_out_of_jwt_sign_in_too(env: Env) -> None:
    """A store user linked to the issuer's subject (external_id), then disabled: a fresh,
    valid token for that subject must not get in — neither as the user nor as a bare
    "jwt:" principal holding what its group and role claims map to."""
    sub = f"dora-{uuid.uuid4().hex[:6]}"
    user = env.ok("POST", "/admin/v1/users", {"name": sub, "external_id": sub})
    claims: dict[str, Any] = {"sub": sub, "groups": ["eng-group"], "roles": ["gateway-admins"]}
    first = env.issuer.token("rsa-1", exp=int(time.time()) + 300, **claims)
    env.secret(first)
    who = env.http("GET", "/admin/v1/whoami", {"authorization": f"Bearer {first}"})
    assert who.status == 200 and (who.json()["id"], who.json()["role"]) == (user["id"], "org_admin"), who.text
    assert env.chat(first, "claude").status == 200
    env.ok("PATCH", f"/admin/v1/users/{user['id']}", {"disabled": True})
    again = env.issuer.token("rsa-1", exp=int(time.time()) + 301, **claims)  # a fresh token, same claims
    env.secret(again)
    r = env.http("GET", "/admin/v1/whoami", {"authorization": f"Bearer {again}"})
    assert r.status in (401, 403), f"a disabled user's token reached the admin API: {r.status} {r.text[:160]}"
    r = env.chat(again, "claude")
    assert r.status in (401, 403), f"a disabled user's token was served a model: {r.status}"


# ==== constant-time comparison, structurally ========================================================


async def test_directory_holds_only_digests_and_compares_in_constant_time(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config_secret = "sk-config-" + uuid.uuid4().hex
    with stores.sqlite_database(str(tmp_path)) as url:
        db = Database(url)

        def seed(conn: Any) -> str:
            org = repo.create_org(conn, "acme")
            p = repo.create_principal(conn, org.id, "service_account", "svc")
            repo.create_grant(conn, org.id, "principal", p.id, models=["*"], endpoints=["chat"])
            return repo.create_key(conn, org.id, p.id, "k")[1]

        store_secret = db.run_sync(seed)
        table = config_key_table((ClientKey(name="app", key=config_secret),))
        directory = Directory(table, db)
        await directory.load(force=True)
        try:
            # Only SHA-256 digests are held: the lookup keys are digests, and no secret
            # (nor its hex digest's text) is anywhere in the snapshot's representation.
            assert set(table) == {hashlib.sha256(config_secret.encode()).digest()}
            assert set(directory.tables.keys) == {hashlib.sha256(store_secret.encode()).digest()}
            held = repr(directory.tables) + repr(directory.config_keys)
            for secret in (config_secret, store_secret, store_secret.partition("_")[2]):
                assert secret not in held
            # A verification compares the digest with hmac.compare_digest.
            calls: list[tuple[bytes, bytes]] = []

            def spy(a: bytes, b: bytes) -> bool:
                calls.append((a, b))
                return hmac.compare_digest(a, b)

            monkeypatch.setattr(directory_module, "hmac", types.SimpleNamespace(compare_digest=spy))
            assert directory.verify_key(store_secret).name == "svc"
            assert calls == [(hashlib.sha256(store_secret.encode()).digest(),) * 2]
        finally:
            await db.close()
    # And in the source: verify_key never compares secrets or digests with == / !=.
    src = textwrap.dedent(inspect.getsource(Directory.verify_key))
    compares = [n for n in ast.walk(ast.parse(src)) if isinstance(n, ast.Compare)
                and any(isinstance(op, (ast.Eq, ast.NotEq)) for op in n.ops)]
    assert compares == [], ast.unparse(compares[0])
    assert "hmac.compare_digest(" in src


# ==== no secret anywhere (runs last for each backend: it stops the gateways) ==========================


def test_zz_no_secret_in_logs_errors_or_the_audit_record(env: Env) -> None:
    env.dep.stop()  # SIGTERM: the audit queue is flushed before exit
    logs = "\n".join(g.output() for g in env.dep.gateways)
    buf = io.BytesIO()
    written = export_jsonl(env.db, buf, with_entry_json=True)
    export = buf.getvalue().decode()
    assert written > 50 and '"decision":"deny"' in export
    assert env.w.prefixes["expiring"] in export  # the visible prefix is recorded: the scan is not vacuous
    where = {"gateway log": logs, "error bodies": "\n".join(env.bodies), "audit export": export}
    for name, text in where.items():
        leaked = sorted({s[:20] + "…" for s in env.secrets if s in text})
        assert not leaked, f"{len(leaked)} secrets in the {name}: {leaked}"
