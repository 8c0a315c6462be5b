"""The simulator's HTTP server: routing, faults, pacing, the request log and
the control API.

Vendor paths (all on one port):

    POST /v1/chat/completions                              OpenAI
    POST /v1/embeddings                                    OpenAI
    GET  /v1/models, /v1/models/{id}                       OpenAI (Anthropic's list when the
                                                           request carries anthropic-version)
    POST /openai/deployments/{dep}/chat/completions        Azure OpenAI (?api-version= required)
    POST /openai/deployments/{dep}/embeddings              Azure OpenAI
    POST /v1/messages, /v1/messages/count_tokens           Anthropic
    POST /v1beta/models/{model}:generateContent            Gemini (also under /v1)
         ...:streamGenerateContent[?alt=sse] :embedContent :batchEmbedContents :countTokens
    GET  /v1beta/models                                    Gemini
    POST /model/{modelId}/converse, /converse-stream       Bedrock

Control API (no authentication; JSON in and out):

    POST   /_sim/faults    {"script": [fault, ...]}  queued; each API request takes the next one
    GET    /_sim/faults    the faults still queued
    DELETE /_sim/faults    drop them
    POST   /_sim/config    partial SimulatorConfig; answers the whole new config
    GET    /_sim/config
    GET    /_sim/requests  the API requests received, oldest first: method, path, query,
                           headers (lower-cased), body (parsed JSON, or null and raw_body),
                           format, fault (the fault applied, or null)
    DELETE /_sim/requests
    POST   /_sim/reset     initial config, no faults, empty log, empty prompt cache, reseeded ids

Order for an API request: record it; take the next scripted fault; refuse a
missing/wrong key (when ``api_key`` is set); refuse an unreadable body; pick the
fault (script, else model-name trigger, else the random rates); apply it or
answer. A scripted fault is consumed even by a request refused before it applies.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import deque
from typing import Any, Iterable
from urllib.parse import parse_qsl, unquote

import msgspec

from switchgear.http.server import ClientDisconnected, Request, Responder, ServerLimits, start_server
from switchgear.simulator.anthropic import AnthropicWire
from switchgear.simulator.bedrock import BedrockWire
from switchgear.simulator.cache import PromptCache
from switchgear.simulator.config import Fault, FaultScript, SimulatorConfig, trigger
from switchgear.simulator.gemini import GeminiWire
from switchgear.simulator.openai import OpenAIWire
from switchgear.simulator.text import Ids
from switchgear.simulator.wire import Answer, Env, Reject, Route, Stream, dumps

_JSON = [("content-type", "application/json")]
_log = logging.getLogger("switchgear.simulator")
_GEMINI_ACTIONS = {
    "generateContent": "generate",
    "streamGenerateContent": "stream",
    "embedContent": "embed",
    "batchEmbedContents": "batch_embed",
    "countTokens": "count_tokens",
}


class _Stopping(Exception):
    """The simulator is shutting down: cut what is in flight."""


def match(method: str, path: str, query: dict[str, str], headers: dict[str, str]) -> Route | None:
    """The vendor endpoint a request is for, or None."""
    post = method == "POST"
    if path == "/v1/chat/completions" and post:
        return Route("openai", "chat", query=query)
    if path == "/v1/messages" and post:
        return Route("anthropic", "messages", query=query)
    if path == "/v1/messages/count_tokens" and post:
        return Route("anthropic", "count_tokens", query=query)
    if path == "/v1/embeddings" and post:
        return Route("openai", "embeddings", query=query)
    if path.startswith("/model/") and post:
        rest = path[len("/model/") :]
        for suffix, endpoint in (("/converse-stream", "converse_stream"), ("/converse", "converse")):
            if rest.endswith(suffix) and len(rest) > len(suffix):
                return Route("bedrock", endpoint, {"model": unquote(rest[: -len(suffix)])}, query)
        return None
    if path.startswith(("/v1beta/models", "/v1/models")):
        tail = path.split("/models", 1)[1]
        if tail.startswith("/") and ":" in tail:
            model, _, action = tail[1:].rpartition(":")
            endpoint = _GEMINI_ACTIONS.get(action)
            if endpoint is None or not post or not model:
                return None
            return Route("gemini", endpoint, {"model": unquote(model)}, query)
        if method != "GET":
            return None
        if path.startswith("/v1beta"):
            return Route("gemini", "models", query=query) if tail in ("", "/") else None
        if "anthropic-version" in headers or "x-api-key" in headers:
            return Route("anthropic", "models", query=query) if tail in ("", "/") else None
        if tail in ("", "/"):
            return Route("openai", "models", query=query)
        return Route("openai", "model", {"model": unquote(tail[1:])}, query)
    if path.startswith("/openai/deployments/") and post:
        parts = path.split("/")  # "", "openai", "deployments", dep, *rest
        if len(parts) >= 5 and parts[3]:
            rest = "/".join(parts[4:])
            endpoint = {"chat/completions": "chat", "embeddings": "embeddings"}.get(rest)
            if endpoint is not None:
                return Route("azure", endpoint, {"deployment": unquote(parts[3])}, query)
    return None


def _guess_format(path: str, headers: dict[str, str]) -> str:
    if "anthropic-version" in headers or path.startswith("/v1/messages"):
        return "anthropic"
    if path.startswith("/v1beta") or ":" in path:
        return "gemini"
    if path.startswith("/model/"):
        return "bedrock"
    if path.startswith("/openai/"):
        return "azure"
    return "openai"


class Simulator:
    """A faithful fake of the OpenAI, Azure OpenAI, Anthropic, Gemini and Bedrock APIs.

    ``async with Simulator(SimulatorConfig(...)) as sim:`` starts it on an ephemeral
    port (``sim.url``); the control API and the Python methods below do the same things.
    """

    def __init__(self, config: SimulatorConfig | None = None, *, limits: ServerLimits | None = None) -> None:
        self._initial = config or SimulatorConfig()
        self._config = self._initial
        self._limits = limits or ServerLimits()
        self._faults: deque[Fault] = deque()
        self._requests: deque[dict[str, Any]] = deque(maxlen=self._config.max_recorded_requests)
        self._rng = random.Random(self._config.seed)
        self._env = Env(lambda: self._config, Ids(self._config.seed), PromptCache())
        self._wires: dict[str, Any] = {
            "openai": OpenAIWire(self._env, azure=False),
            "azure": OpenAIWire(self._env, azure=True),
            "anthropic": AnthropicWire(self._env),
            "gemini": GeminiWire(self._env),
            "bedrock": BedrockWire(self._env),
        }
        self._server: Any = None
        self._stopping: asyncio.Event | None = None
        self.host = ""
        self.port = 0

    # ---- lifecycle -------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> tuple[str, int]:
        if self._server is not None:
            raise RuntimeError("simulator already started")
        self._stopping = asyncio.Event()
        self._server = await start_server(self._handle, host, port, self._limits)
        bound = self._server.sockets[0].getsockname()
        self.host, self.port = bound[0], bound[1]
        return self.host, self.port

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        assert self._stopping is not None
        self._stopping.set()  # hanging and paced handlers cut their connections now
        server.close()
        try:
            await asyncio.wait_for(server.wait_closed(), 5.0)
        except asyncio.TimeoutError:
            pass

    async def __aenter__(self) -> Simulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    # ---- Python control API (the same as /_sim/*) ---------------------------------------

    @property
    def config(self) -> SimulatorConfig:
        return self._config

    def configure(self, **changes: Any) -> SimulatorConfig:
        """Change settings; unknown names or bad values raise ValueError."""
        merged = msgspec.structs.asdict(self._config) | changes
        try:
            config = msgspec.convert(merged, SimulatorConfig)
        except msgspec.ValidationError as exc:
            raise ValueError(str(exc)) from None
        if config.seed != self._config.seed:
            self._rng = random.Random(config.seed)
            self._env.ids = Ids(config.seed)
        if config.max_recorded_requests != self._config.max_recorded_requests:
            self._requests = deque(self._requests, maxlen=config.max_recorded_requests)
        self._config = config
        return config

    def add_faults(self, faults: Iterable[Fault | dict[str, Any]]) -> int:
        """Queue faults for the next requests, one each; returns how many are queued."""
        try:
            parsed = [f if isinstance(f, Fault) else msgspec.convert(f, Fault) for f in faults]
        except msgspec.ValidationError as exc:
            raise ValueError(str(exc)) from None
        self._faults.extend(parsed)
        return len(self._faults)

    def clear_faults(self) -> None:
        self._faults.clear()

    @property
    def pending_faults(self) -> list[Fault]:
        return list(self._faults)

    @property
    def requests(self) -> list[dict[str, Any]]:
        return list(self._requests)

    def clear_requests(self) -> None:
        self._requests.clear()

    def reset(self) -> None:
        self._config = self._initial
        self._faults.clear()
        self._requests = deque(maxlen=self._config.max_recorded_requests)
        self._rng = random.Random(self._config.seed)
        self._env.ids = Ids(self._config.seed)
        self._env.cache.clear()

    # ---- request handling ------------------------------------------------------------------

    async def _handle(self, req: Request, resp: Responder) -> None:
        if req.path.startswith("/_sim/"):
            self._control(req, resp)
            return
        try:
            await self._api(req, resp)
        except _Stopping:
            await _cut(resp)

    async def _api(self, req: Request, resp: Responder) -> None:
        query = dict(parse_qsl(req.query, keep_blank_values=True))
        route = match(req.method, req.path, query, req.headers)
        body: Any = None
        parsed = True
        if req.body:
            try:
                body = msgspec.json.decode(req.body)
            except msgspec.DecodeError:
                parsed = False
        entry: dict[str, Any] = {
            "method": req.method,
            "path": req.path,
            "query": req.query,
            "headers": dict(req.headers),
            "body": body,
            "format": route.format if route else None,
            "fault": None,
        }
        if not parsed:
            entry["raw_body"] = req.body.decode("utf-8", "replace")
        self._requests.append(entry)  # a deque bounded by max_recorded_requests (0: keep none)
        config = self._config
        if route is None:
            await self._pause(config.latency_ms)
            self._not_found(req, resp)
            return
        wire = self._wires[route.format]
        fault = self._faults.popleft() if self._faults else None
        try:
            if req.error is not None:
                raise Reject(req.error.status, req.error.message)
            if config.api_key is not None:
                refused = wire.authenticate(req.headers, query, config.api_key)
                if refused is not None:
                    raise refused
            refused = wire.precheck(route, req.headers)
            if refused is not None:
                raise refused
            if req.method == "POST" and (not parsed or not req.body):
                raise wire.parse_error()
            model = wire.model_of(route, body)
            if fault is None:
                fault = trigger(model, config.retry_after_s) or self._random_fault(config)
            if fault is not None:
                entry["fault"] = fault.kind
                kind = fault.kind
                if kind == "status":
                    raise wire.status_error(fault.status, fault.retry_after, model)
                if kind == "context_length":
                    raise wire.context_error(config.context_window + 1, config.context_window)
                if kind == "not_found":
                    raise wire.not_found(model)
                if kind == "reset":
                    await self._pause(config.latency_ms)
                    await _cut(resp)
                    return
                if kind == "hang":
                    await self._hang(resp)
                    return
            stream = wire.is_stream(route, body)
            if fault is not None and fault.kind == "malformed":
                result = wire.malformed(stream)
            else:
                try:
                    result = wire.handle(route, body)
                except Reject:
                    raise
                except Exception:
                    # A simulator bug: answer as the vendor's own 500 would, so clients parse it.
                    _log.exception("simulator failed on %s %s", req.method, req.path)
                    raise wire.status_error(500, None, model) from None
        except Reject as rej:
            await self._pause(config.latency_ms)
            answer = wire.render(rej)
            resp.send(answer.status, answer.headers, answer.body)
            return
        if isinstance(result, Answer):
            await self._answer(resp, result, fault, config)
        else:
            await self._stream(resp, wire, result, fault, config)

    def _random_fault(self, config: SimulatorConfig) -> Fault | None:
        if not (config.error_rate or config.rate_limit_rate):
            return None
        draw = self._rng.random()
        if draw < config.error_rate:
            return Fault(kind="status", status=500)
        if draw < config.error_rate + config.rate_limit_rate:
            return Fault(kind="status", status=429, retry_after=config.retry_after_s)
        return None

    async def _answer(self, resp: Responder, answer: Answer, fault: Fault | None, config: SimulatorConfig) -> None:
        delay = config.latency_ms
        if answer.tokens:
            delay += config.first_token_ms
            if config.tokens_per_second:
                delay += answer.tokens / config.tokens_per_second * 1000
        if fault is not None and fault.kind == "slow_first_token":
            delay += fault.ms
        await self._pause(delay)
        if fault is not None and fault.kind in ("drop", "stream_error"):
            await _cut(resp)  # a non-streamed answer has no middle: close unanswered
            return
        resp.send(answer.status, answer.headers, answer.body)

    async def _stream(self, resp: Responder, wire: Any, stream: Stream, fault: Fault | None, config: SimulatorConfig) -> None:
        frames = stream.frames
        cut_at = error_at = None
        slow = 0.0
        if fault is not None:
            if fault.kind == "drop":
                cut_at = fault.after_events
            elif fault.kind == "stream_error":
                error_at = fault.after_events
            elif fault.kind == "slow_first_token":
                slow = fault.ms
        elif config.drop_stream_rate and self._rng.random() < config.drop_stream_rate:
            cut_at = self._rng.randint(1, max(1, len(frames) - 1))
        await self._pause(config.latency_ms)
        await resp.start_stream(stream.status, stream.headers)
        first = True
        per_token_ms = 1000 / config.tokens_per_second if config.tokens_per_second else 0.0
        for i, frame in enumerate(frames):
            if i == cut_at:
                await _cut(resp)
                return
            if i == error_at:
                await resp.write(wire.stream_error())
                await resp.end()
                return
            if frame.tokens:
                if first:
                    first = False
                    await self._pause(config.first_token_ms + slow)
                elif per_token_ms:
                    await self._pause(frame.tokens * per_token_ms)
            await resp.write(frame.data)
        if error_at is not None and error_at >= len(frames):
            await resp.write(wire.stream_error())
        await resp.end()

    async def _pause(self, ms: float) -> None:
        if ms <= 0:
            return
        stopping = self._stopping
        assert stopping is not None
        try:
            await asyncio.wait_for(stopping.wait(), ms / 1000)
        except asyncio.TimeoutError:
            return
        raise _Stopping

    async def _hang(self, resp: Responder) -> None:
        gone = asyncio.Event()
        resp.on_disconnect(gone.set)
        stopping = self._stopping
        assert stopping is not None
        waiters = [asyncio.ensure_future(gone.wait()), asyncio.ensure_future(stopping.wait())]
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waiters:
                w.cancel()
        if gone.is_set():
            raise ClientDisconnected
        raise _Stopping

    def _not_found(self, req: Request, resp: Responder) -> None:
        fmt = _guess_format(req.path, req.headers)
        wire = self._wires[fmt]
        if fmt == "openai":
            rej = Reject(404, f"Invalid URL ({req.method} {req.path})", type="invalid_request_error")
        elif fmt == "azure":
            rej = Reject(404, "Resource not found", code="404")
        elif fmt == "gemini":
            rej = Reject(404, "Requested entity was not found.")
        elif fmt == "bedrock":
            rej = Reject(404, "Not Found", type="UnknownOperationException", extra={"front_door": True})
        else:
            rej = Reject(404, "Not Found", type="not_found_error")
        answer = wire.render(rej)
        resp.send(answer.status, answer.headers, answer.body)

    # ---- control API ---------------------------------------------------------------------------

    def _control(self, req: Request, resp: Responder) -> None:
        key = (req.method, req.path.rstrip("/"))
        try:
            body = msgspec.json.decode(req.body) if req.body else None
        except msgspec.DecodeError:
            resp.send(400, _JSON, dumps({"error": "body is not valid JSON"}))
            return
        try:
            out = self._control_action(key, body)
        except (ValueError, msgspec.ValidationError) as exc:
            resp.send(400, _JSON, dumps({"error": str(exc)}))
            return
        if out is None:
            resp.send(404, _JSON, dumps({"error": f"no control endpoint {req.method} {req.path}"}))
            return
        resp.send(200, _JSON, dumps(out))

    def _control_action(self, key: tuple[str, str], body: Any) -> Any:
        if key == ("POST", "/_sim/faults"):
            script = msgspec.convert(body, FaultScript)
            return {"queued": self.add_faults(script.script)}
        if key == ("GET", "/_sim/faults"):
            return {"pending": self.pending_faults}
        if key == ("DELETE", "/_sim/faults"):
            self.clear_faults()
            return {"pending": []}
        if key == ("POST", "/_sim/config"):
            if not isinstance(body, dict):
                raise ValueError("expected a JSON object of SimulatorConfig fields")
            return self.configure(**body)
        if key == ("GET", "/_sim/config"):
            return self._config
        if key == ("GET", "/_sim/requests"):
            return list(self._requests)
        if key == ("DELETE", "/_sim/requests"):
            count = len(self._requests)
            self.clear_requests()
            return {"cleared": count}
        if key == ("POST", "/_sim/reset"):
            self.reset()
            return {"reset": True}
        return None


async def _cut(resp: Responder) -> None:
    """Close the connection abruptly: no response, or a response cut mid-body."""
    resp.abort()
    # The server notices the lost connection on the next loop turn and cancels us.
    for _ in range(100):
        if resp.disconnected:
            break
        await asyncio.sleep(0)
    raise ClientDisconnected
