"""OpenAI's and Azure OpenAI's error shapes and messages, as the real APIs word them."""

from __future__ import annotations

from typing import Any

from switchgear.simulator.wire import Answer, Headers, Reject, dumps, retry_after_header

PARSE_ERROR = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your "
    "HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. "
    "If you have trouble figuring out how to fix this, please contact us through our help center at "
    "help.openai.com.)"
)
_NO_KEY = (
    "You didn't provide an API key. You need to provide your API key in an Authorization header using "
    "Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if "
    "you're accessing the API from your browser and are prompted for a username and password. You can "
    "obtain an API key from https://platform.openai.com/account/api-keys."
)
_AZURE_AUTH = (
    "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key "
    "for an active subscription and use a correct regional API endpoint for your resource."
)
_AZURE_NO_DEPLOYMENT = (
    "The API deployment for this resource does not exist. If you created the deployment within "
    "the last 5 minutes, please wait a moment and try again."
)
AZURE_CONTENT_FILTER = (
    "The response was filtered due to the prompt triggering Azure OpenAI's content management policy. "
    "Please modify your prompt and retry. To learn more about our content filtering policies please read "
    "our documentation: https://go.microsoft.com/fwlink/?linkid=2198766"
)


def invalid(message: str, param: str | None = None, code: str | None = None) -> Reject:
    return Reject(400, message, type="invalid_request_error", param=param, code=code)


def json_type(value: Any) -> str:
    """How OpenAI names a JSON value's type in its messages."""
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, list):
        return "an array"
    if value is None:
        return "null"
    return "an object"


def authenticate(headers: dict[str, str], api_key: str, azure: bool) -> Reject | None:
    bearer = headers.get("authorization", "")
    token = bearer[7:] if bearer[:7].lower() == "bearer " else None
    if azure:
        given = headers.get("api-key") or token
        if given != api_key:
            return Reject(401, _AZURE_AUTH, code="401")
        return None
    if token is None:
        return Reject(401, _NO_KEY, type="invalid_request_error")
    if token != api_key:
        shown = token[:3] + "*" * 4 + token[-4:] if len(token) > 8 else "*" * len(token)
        return Reject(
            401,
            f"Incorrect API key provided: {shown}. You can find your API key at "
            "https://platform.openai.com/account/api-keys.",
            type="invalid_request_error",
            code="invalid_api_key",
        )
    return None


def render(rej: Reject, request_id: str, azure: bool) -> Answer:
    headers: Headers = [("content-type", "application/json"), ("x-request-id", request_id)]
    if rej.retry_after is not None:
        headers.append(("retry-after", retry_after_header(rej.retry_after)))
        if azure:
            headers.append(("retry-after-ms", str(int(rej.retry_after * 1000))))
    if azure and rej.code in ("401", "403", "404", "429"):
        error: dict[str, Any] = {"code": rej.code, "message": rej.message}
    else:
        error = {
            "message": rej.message,
            "type": rej.type if rej.type is not None else _default_type(rej.status),
            "param": rej.param,
            "code": rej.code,
        }
        error.update(rej.extra)
    return Answer(rej.status, headers, dumps({"error": error}))


def _default_type(status: int) -> str:
    if status >= 500:
        return "server_error"
    return "invalid_request_error"


def status_error(status: int, retry_after: float | None, model: str, azure: bool) -> Reject:
    if azure and status in (401, 403, 404, 429):
        messages = {
            401: _AZURE_AUTH,
            403: "Traffic is not from an approved private endpoint.",
            404: _AZURE_NO_DEPLOYMENT,
            429: "Requests to the ChatCompletions_Create Operation under Azure OpenAI API version "
            "2024-10-21 have exceeded call rate limit of your current OpenAI S0 pricing tier. Please "
            f"retry after {retry_after_header(retry_after or 1)} seconds. Please go here: "
            "https://aka.ms/oai/quotaincrease if you would like to further increase the default rate limit.",
        }
        return Reject(status, messages[status], code=str(status), retry_after=retry_after)
    if status == 429:
        wait = retry_after if retry_after is not None else 1.0
        return Reject(
            429,
            f"Rate limit reached for {model or 'default'} in organization org-simulator on requests per "
            f"min (RPM): Limit 500, Used 500, Requested 1. Please try again in {wait:g}s. Visit "
            "https://platform.openai.com/account/rate-limits to learn more.",
            type="requests",
            code="rate_limit_exceeded",
            retry_after=retry_after,
        )
    if status == 404:
        return not_found(model, azure)
    messages = {
        400: "Bad request.",
        401: "Incorrect API key provided.",
        403: "Country, region, or territory not supported",
        500: "The server had an error while processing your request. Sorry about that!",
        502: "Bad gateway.",
        503: "The server is overloaded or not ready yet.",
        504: "Gateway timeout.",
    }
    code = {401: "invalid_api_key", 403: "unsupported_country_region_territory"}.get(status)
    typ = "request_forbidden" if status == 403 else None
    return Reject(status, messages.get(status, f"HTTP {status}"), type=typ, code=code, retry_after=retry_after)


def not_found(model: str, azure: bool) -> Reject:
    if azure:
        return Reject(404, _AZURE_NO_DEPLOYMENT, code="DeploymentNotFound", type=None)
    return Reject(
        404,
        f"The model `{model}` does not exist or you do not have access to it.",
        type="invalid_request_error",
        code="model_not_found",
    )


def context_error(tokens: int, window: int) -> Reject:
    return invalid(
        f"This model's maximum context length is {window} tokens. However, your messages resulted in "
        f"{tokens} tokens. Please reduce the length of the messages.",
        "messages",
        "context_length_exceeded",
    )


def stream_error() -> bytes:
    error = {"message": "The server had an error while processing your request. Sorry about that!",
             "type": "server_error", "param": None, "code": None}  # fmt: skip
    return b"data: " + dumps({"error": error}) + b"\n\n"
