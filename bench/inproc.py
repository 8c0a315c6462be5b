"""In-process cost of the gateway's own request path (no sockets): the real app,
pipeline and formats, with a canned upstream and a null responder. Complements the
wrk benchmark, whose numbers swing with the machine; this one isolates our Python.

    .venv/bin/python bench/inproc.py [--requests N] [--stream]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import uvloop

from switchgear.app import Gateway
from switchgear.config.load import parse_config
from switchgear.http.server import Request
from switchgear.runtime import build_runtime

HERE = Path(__file__).parent
KEY = "sk-bench-client-0123456789abcdef"
CHAT = (HERE / ".work" / "chat.json")
STREAM = (HERE / ".work" / "stream.sse")


class CannedResponse:
    def __init__(self, body: bytes, pieces: int = 1) -> None:
        self.status = 200
        self.headers = {"content-type": "application/json"}
        self._body = body
        self._pieces = pieces
        self.complete = False  # like UpstreamResponse: True once the last piece was returned

    async def read(self) -> bytes:
        return self._body

    def __aiter__(self):  # type: ignore[no-untyped-def]
        return self._iter()

    async def _iter(self):  # type: ignore[no-untyped-def]
        n = len(self._body)
        step = max(1, n // self._pieces)
        for i in range(0, n, step):
            self.complete = i + step >= n
            yield self._body[i : i + step]

    def close(self) -> None:
        pass


class CannedPool:
    def __init__(self, body: bytes) -> None:
        self.body = body

    async def request(self, method, path, headers, body, **kw):  # type: ignore[no-untyped-def]
        return CannedResponse(self.body)

    async def aclose(self) -> None:
        pass


class NullResponder:
    disconnected = False

    def send(self, status, headers, body) -> None:  # type: ignore[no-untyped-def]
        assert status == 200, body

    async def start_stream(self, status, headers) -> None:  # type: ignore[no-untyped-def]
        pass

    async def write(self, chunk) -> None:  # type: ignore[no-untyped-def]
        pass

    async def end(self, final: bytes = b"") -> None:
        pass

    def on_disconnect(self, cb) -> None:  # type: ignore[no-untyped-def]
        pass


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=100_000)
    ap.add_argument("--stream", action="store_true")
    ap.add_argument("--group", choices=("single", "weighted3"), default="single")
    args = ap.parse_args()
    copies = ("",) if args.group == "single" else ("-a", "-b", "-c")
    model: dict = {"name": "bench-chat", "deployments": [
        {"provider": f"mock{c}", "model": "gpt-4o-mini", "weight": w} for c, w in zip(copies, (3, 2, 1))]}
    if args.group == "weighted3":
        model["strategy"] = "weighted"
    cfg = parse_config({
        "auth": {"keys": [{"name": "bench", "key": KEY, "grants": [{"models": ["*"]}]}]},
        "providers": [{"name": f"mock{c}", "vendor": "openai_compatible", "base_url": "http://127.0.0.1:9/v1"}
                      for c in copies],
        "models": [model],
    }, env={})
    rt = build_runtime(cfg)
    body = (STREAM if args.stream else CHAT).read_bytes()
    for dep in rt.routes.exact["bench-chat"].deployments:
        object.__setattr__(dep, "pool", CannedPool(body))
    gw = Gateway(rt)
    req_body = (b'{"model":"bench-chat","stream":true,"messages":[{"role":"user","content":"Hello, how are you?"}]}'
                if args.stream else b'{"model":"bench-chat","messages":[{"role":"user","content":"Hello, how are you?"}]}')
    headers = {"host": "127.0.0.1:4000", "authorization": f"Bearer {KEY}", "content-type": "application/json",
               "content-length": str(len(req_body))}

    async def run() -> None:
        resp = NullResponder()
        for _ in range(2000):
            await gw.handle(Request("POST", "/v1/chat/completions", "", headers, req_body, None), resp)
        t = time.perf_counter()
        for _ in range(args.requests):
            await gw.handle(Request("POST", "/v1/chat/completions", "", headers, req_body, None), resp)
        dt = time.perf_counter() - t
        print(f"{'stream' if args.stream else 'chat'}: {dt / args.requests * 1e6:.2f} us per request "
              f"(gateway path only, no sockets)")

    uvloop.run(run())


if __name__ == "__main__":
    main()
