"""Soft-threshold alerts: logged always, and POSTed to a webhook when one is configured.

Sent off the request path (a bounded queue and one sender task); a slow or dead webhook
costs only its own queue, never a request. Each threshold is reported once per budget
period by the limits backend, across all processes.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import urllib.request

from switchgear.limits.types import NANO_PER_USD, Crossed

log = logging.getLogger("switchgear.alerts")


def payload(c: Crossed) -> dict[str, object]:
    b = c.budget
    return {
        "type": "budget.threshold_crossed",
        "budget": b.name,
        "instance": b.instance or None,
        "period_start": b.period_start,
        "resets_at": b.reset_at,
        "threshold_usd": c.threshold_nano / NANO_PER_USD,
        "spent_usd": c.spent_nano / NANO_PER_USD,
        "limit_usd": b.limit_nano / NANO_PER_USD,
        "at": time.time(),
    }


class Alerts:
    def __init__(self, webhook: str | None, queue_max: int = 1000, timeout_s: float = 5.0) -> None:
        self.webhook = webhook
        self.timeout_s = timeout_s
        self.sent = 0
        self.failed = 0
        self.dropped = 0
        self._queue: asyncio.Queue[dict[str, object]] | None = None
        self._queue_max = queue_max
        self._task: asyncio.Task[None] | None = None

    def __call__(self, c: Crossed) -> None:
        body = payload(c)
        log.warning("budget %s%s crossed its soft threshold: $%.6f of $%.6f spent", body["budget"],
                    f" ({body['instance']})" if body["instance"] else "", body["spent_usd"], body["limit_usd"])
        if self.webhook is None:
            return
        if self._queue is None:
            self._queue = asyncio.Queue(self._queue_max)
            self._task = asyncio.get_running_loop().create_task(self._send_all())
        try:
            self._queue.put_nowait(body)
        except asyncio.QueueFull:
            self.dropped += 1

    async def _send_all(self) -> None:
        assert self._queue is not None
        while True:
            body = await self._queue.get()
            try:
                await asyncio.to_thread(self._post, body)
                self.sent += 1
            except Exception as e:  # noqa: BLE001 - an alert endpoint's failure is logged, not raised
                self.failed += 1
                log.warning("alert webhook failed: %s", e)
            finally:
                self._queue.task_done()

    def _post(self, body: dict[str, object]) -> None:
        assert self.webhook is not None
        req = urllib.request.Request(self.webhook, data=json.dumps(body).encode(), method="POST",
                                     headers={"content-type": "application/json"})
        with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
            resp.read()

    async def aclose(self) -> None:
        """Give queued alerts a moment to go out, then stop."""
        if self._task is None or self._queue is None:
            return
        try:
            await asyncio.wait_for(self._queue.join(), 2 * self.timeout_s)
        except asyncio.TimeoutError:
            log.warning("%d budget alerts not sent at shutdown", self._queue.qsize())
        self._task.cancel()
