"""``OpenAIWire``: what the simulator's server calls for OpenAI and Azure OpenAI routes —
the border checks, error rendering, and the endpoints."""

from __future__ import annotations

from typing import Any

from switchgear.simulator.openai import errors
from switchgear.simulator.openai.chat import chat, malformed
from switchgear.simulator.openai.embeddings import embeddings
from switchgear.simulator.openai.headers import json_headers
from switchgear.simulator.wire import Answer, Env, Reject, Route, Stream, dumps

MODELS = ("gpt-4o", "gpt-4o-mini", "o3-mini", "text-embedding-3-small", "text-embedding-3-large", "sim-model")


class OpenAIWire:
    """OpenAI (``azure=False``) or Azure OpenAI (``azure=True``) on the same code."""

    def __init__(self, env: Env, *, azure: bool) -> None:
        self.env = env
        self.azure = azure
        self.name = "azure" if azure else "openai"

    # ---- border ------------------------------------------------------------------

    def authenticate(self, headers: dict[str, str], query: dict[str, str], api_key: str) -> Reject | None:
        return errors.authenticate(headers, api_key, self.azure)

    def precheck(self, route: Route, headers: dict[str, str]) -> Reject | None:
        if self.azure and not route.query.get("api-version"):
            return Reject(404, "Resource not found", code="404")
        return None

    def model_of(self, route: Route, body: Any) -> str:
        if self.azure:
            given = body.get("model") if isinstance(body, dict) else None
            return given if isinstance(given, str) and given else route.params.get("deployment", "")
        if route.endpoint == "model":
            return route.params.get("model", "")
        model = body.get("model") if isinstance(body, dict) else None
        return model if isinstance(model, str) else ""

    def is_stream(self, route: Route, body: Any) -> bool:
        return route.endpoint == "chat" and isinstance(body, dict) and body.get("stream") is True

    def parse_error(self) -> Reject:
        return errors.invalid(errors.PARSE_ERROR)

    def render(self, rej: Reject) -> Answer:
        return errors.render(rej, self.env.ids.make("req_", 32), self.azure)

    def status_error(self, status: int, retry_after: float | None, model: str) -> Reject:
        return errors.status_error(status, retry_after, model, self.azure)

    def context_error(self, tokens: int, window: int) -> Reject:
        return errors.context_error(tokens, window)

    def not_found(self, model: str) -> Reject:
        return errors.not_found(model, self.azure)

    def malformed(self, stream: bool) -> Answer | Stream:
        return malformed(stream, self.azure)

    def stream_error(self) -> bytes:
        return errors.stream_error()

    # ---- endpoints ---------------------------------------------------------------

    def handle(self, route: Route, body: Any) -> Answer | Stream:
        if route.endpoint == "chat":
            return chat(self.env, self.azure, body, self.model_of(route, body))
        if route.endpoint == "embeddings":
            return embeddings(self.env, self.azure, body, self.model_of(route, body))
        if route.endpoint == "model":
            return self._model(route.params["model"])
        return self._models()

    def _models(self) -> Answer:
        data = [{"id": m, "object": "model", "created": 1715367049, "owned_by": "system"} for m in MODELS]
        return Answer(200, json_headers(self.env), dumps({"object": "list", "data": data}))

    def _model(self, model: str) -> Answer:
        if "sim-not-found" in model:
            raise self.not_found(model)
        return Answer(200, json_headers(self.env), dumps({"id": model, "object": "model", "created": 1715367049, "owned_by": "system"}))
