"""The CLI against the admin API behind the real HTTP server (both stores).

The gateway's authentication is stood in for by a lookup of the presented key's digest in
the identity snapshot — what the gateway does — so real keys minted through the CLI work."""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import AsyncIterator

import pytest

from switchgear.admin import cli
from switchgear.admin.api import AdminApi
from switchgear.admin.router import NoRoute, WrongMethod
from switchgear.http.server import Request, Responder, ServerLimits, start_server
from switchgear.identity import keys as keygen
from switchgear.identity import repository as repo
from switchgear.identity.principal import Principal
from switchgear.store.database import Database
from tests.admin.support import (
    MemoryRecords,
    World,
    assert_matches_document,
    principal_from,
)

_JSON = [("content-type", "application/json")]


async def _authenticate(db: Database, headers: dict[str, str]) -> Principal | None:
    secret = headers.get("x-api-key") or headers.get("authorization", "").removeprefix("Bearer ").strip()
    if not secret:
        return None
    snap = await db.run(repo.load_snapshot)
    digest = keygen.digest_hex(secret)
    row = next((k for k in snap.keys if k.digest == digest), None)
    now = time.time()
    if row is None or row.revoked_at is not None or (row.expires_at is not None and row.expires_at <= now):
        return None
    return principal_from(snap, row.principal_id, row.prefix)


@pytest.fixture
async def gateway(db: Database, world: World) -> AsyncIterator[tuple[str, str, list[tuple[str, int]]]]:
    """(url, org admin key, [(path, status)] of what the server answered)."""
    records = MemoryRecords(db)

    async def changed() -> None:
        pass

    api = AdminApi(db, records.append, changed, records)
    seen: list[tuple[str, int]] = []

    async def handler(req: Request, responder: Responder) -> None:
        principal = await _authenticate(db, req.headers)
        if principal is None:
            responder.send(401, _JSON, b'{"error":{"message":"invalid API key","type":"invalid_request_error",'
                                       b'"param":null,"code":"invalid_api_key"}}')
            return
        status, headers, body = await api.handle(req.method, req.path, req.query, req.headers, req.body, principal)
        seen.append((req.path, status))
        if status != 204 and dict(headers).get("content-type") == "application/json":
            try:
                template: str | None = api.router.match(req.method, req.path).route.template
            except (NoRoute, WrongMethod):
                template = None
            assert_matches_document(template, req.method, status, "application/json", json.loads(body))
        responder.send(status, headers, body)

    server = await start_server(handler, "127.0.0.1", 0, ServerLimits())
    port = server.sockets[0].getsockname()[1]
    _, secret = await db.run(lambda c: repo.create_key(c, world.org, world.root, "admin"))
    try:
        yield f"http://127.0.0.1:{port}", secret, seen
    finally:
        server.close()
        await server.wait_closed()


async def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = await asyncio.to_thread(cli.main, list(argv))
    out, err = capsys.readouterr()
    return code, out, err


async def test_an_org_admin_runs_the_identity_lifecycle_from_the_cli(
    gateway: tuple[str, str, list[tuple[str, int]]], capsys: pytest.CaptureFixture[str], world: World,
) -> None:
    url, admin, seen = gateway
    base = ["--url", url, "--admin-key", admin]

    code, out, _ = await run(capsys, "whoami", *base)
    assert code == 0 and "org_admin" in out and world.root in out

    code, out, _ = await run(capsys, "teams", "create", "--name", "research", *base, "--json")
    team = json.loads(out)["id"]
    code, out, _ = await run(capsys, "users", "create", "--name", "ana", "--email", "ana@acme.test", *base, "--json")
    ana = json.loads(out)["id"]
    code, out, _ = await run(capsys, "teams", "add-member", team, ana, *base)
    assert code == 0 and "member" in out
    code, out, _ = await run(capsys, "teams", "members", team, *base)
    assert out.splitlines()[0].split() == ["PRINCIPAL", "ROLE"] and ana in out

    code, out, _ = await run(capsys, "grants", "create", "--team", team, "--models", "openai/*,gpt-4o",
                             "--endpoints", "chat,embeddings", "--max-tokens", "1000", *base, "--json")
    grant = json.loads(out)
    assert code == 0 and grant["models"] == ["openai/*", "gpt-4o"] and grant["max_tokens"] == 1000
    code, out, _ = await run(capsys, "grants", "list", "--subject", team, *base)
    assert grant["id"] in out and "openai/*,gpt-4o" in out

    code, out, err = await run(capsys, "keys", "create", "--principal", ana, "--name", "laptop",
                               "--expires-in", "30d", *base)
    assert code == 0 and "only time this key is shown" in err
    secret = next(line.removeprefix("key: ") for line in out.splitlines() if line.startswith("key: "))
    assert out.count(secret) == 1 and secret not in err
    code, out, _ = await run(capsys, "keys", "list", "--principal", ana, *base)
    assert code == 0 and secret.partition("_")[0] in out and secret not in out
    key_id = out.splitlines()[1].split()[0]
    assert key_id.startswith("key_")

    # The new key works — as a data-plane key, which reaches no admin route.
    code, out, err = await run(capsys, "whoami", "--url", url, "--admin-key", secret)
    assert code == 1 and "caller holds no admin role" in err and "HTTP 403" in err and secret not in err

    code, out, err = await run(capsys, "keys", "rotate", key_id, "--overlap", "1h", *base, "--json")
    rotated = json.loads(out)
    assert code == 0 and rotated["rotated_from"] == key_id and rotated["key"] != secret
    assert rotated["previous"]["expires_at"] <= time.time() + 3601
    code, out, _ = await run(capsys, "keys", "revoke", rotated["id"], *base)
    assert code == 0 and "revoked_at" in out
    code, out, _ = await run(capsys, "keys", "show", rotated["id"], *base, "--json")
    assert json.loads(out)["revoked_at"] is not None and "key" not in json.loads(out)

    code, out, _ = await run(capsys, "agents", "create", "--name", "helper", "--owner", ana, "--purpose", "drafts",
                             "--on-behalf-of", "required", *base, "--json")
    agent = json.loads(out)["id"]
    code, out, _ = await run(capsys, "agents", "update", agent, "--disable", *base, "--json")
    assert json.loads(out)["disabled"] is True
    code, out, _ = await run(capsys, "agents", "list", *base)
    assert "helper" in out and "required" in out
    code, out, _ = await run(capsys, "users", "update", ana, "--role", "viewer", *base, "--json")
    assert json.loads(out)["role"] == "viewer"
    code, out, _ = await run(capsys, "users", "update", ana, "--role", "none", *base, "--json")
    assert json.loads(out)["role"] is None
    code, out, _ = await run(capsys, "service-accounts", "create", "--name", "etl", *base)
    assert code == 0 and "service_account" in out

    code, out, _ = await run(capsys, "access", "review", "--unused-days", "7", *base)
    assert code == 0 and "no expiry" in out and "unused 7d" in out and "without an expiry" in out

    code, out, _ = await run(capsys, "grants", "delete", grant["id"], *base)
    assert code == 0 and f"deleted {grant['id']}" in out
    code, out, _ = await run(capsys, "teams", "remove-member", team, ana, *base)
    assert code == 0 and "removed" in out
    code, out, _ = await run(capsys, "teams", "list", *base)
    assert "research" in out and "ml" in out
    assert all(status < 400 for path, status in seen if "whoami" not in path)


async def test_cli_errors_print_the_api_message_and_exit_1(
    gateway: tuple[str, str, list[tuple[str, int]]], capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch, world: World,
) -> None:
    url, admin, _ = gateway
    monkeypatch.setenv("SWITCHGEAR_URL", url)
    monkeypatch.setenv("SWITCHGEAR_ADMIN_KEY", admin)
    code, out, err = await run(capsys, "keys", "show", "key_nope")
    assert code == 1 and out == "" and err.strip() == "error: no key key_nope (HTTP 404, not_found)"
    code, _, err = await run(capsys, "teams", "create", "--name", "ml")
    assert code == 1 and "already exists" in err and "409" in err
    code, _, err = await run(capsys, "grants", "create", "--team", world.ml, "--models", "a*b", "--endpoints", "chat")
    assert code == 1 and "models[0]" in err
    code, _, err = await run(capsys, "keys", "show", "../teams")  # escaped: cannot reach another route
    assert code == 1 and "404" in err
    code, _, err = await run(capsys, "whoami", "--admin-key", "sk-sg-wrongkey_" + "x" * 43)
    assert code == 1 and "invalid API key" in err
    monkeypatch.delenv("SWITCHGEAR_ADMIN_KEY")
    code, _, err = await run(capsys, "whoami")
    assert code == 1 and "no admin key" in err
    code, _, err = await run(capsys, "whoami", "--url", "http://127.0.0.1:1", "--admin-key", admin)
    assert code == 1 and "cannot reach" in err
    with pytest.raises(SystemExit):
        await run(capsys, "keys", "create", "--principal", "p", "--name", "n", "--expires-in", "soon")


def test_durations_and_times() -> None:
    assert cli.duration("30d") == 30 * 86400 and cli.duration("1h30m") == 5400 and cli.duration("90") == 90
    assert cli.duration("2w") == 14 * 86400 and cli.duration("0.5h") == 1800
    for bad in ("soon", "1x", "h", "1h 30m", "-", "-5", "inf", "nan"):
        with pytest.raises(argparse.ArgumentTypeError):
            cli.duration(bad)
    assert cli.timestamp("1970-01-02T00:00:00Z") == 86400 and cli.timestamp("1970-01-02") == 86400
    with pytest.raises(argparse.ArgumentTypeError):
        cli.timestamp("tomorrow")


async def test_path_spellings_over_the_wire_reach_no_handler(
    gateway: tuple[str, str, list[tuple[str, int]]],
) -> None:
    """The real server hands the raw path over; nothing on the way normalises it."""
    import http.client

    url, admin, seen = gateway
    host, port = url.removeprefix("http://").split(":")

    def get(path: str) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        try:
            conn.request("GET", path, headers={"authorization": f"Bearer {admin}"})
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    for path in ("/admin/v1/teams", "//admin/v1/teams", "/admin/v1/teams/", "/admin/v1/%74eams",
                 "/admin/v1/Teams", "/admin/v1/./teams", "/admin/v1/x/../teams"):
        status, body = await asyncio.to_thread(get, path)
        assert status == (200 if path == "/admin/v1/teams" else 404), path
        assert path == "/admin/v1/teams" or json.loads(body)["error"]["code"] == "not_found"
    assert [p for p, _ in seen] == ["/admin/v1/teams", "//admin/v1/teams", "/admin/v1/teams/", "/admin/v1/%74eams",
                                    "/admin/v1/Teams", "/admin/v1/./teams", "/admin/v1/x/../teams"]
