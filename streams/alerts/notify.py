"""Delivery of alert notifications: the `alerts` Kafka topic, the log, and a signed webhook.

The webhook never slows the stream: notifications wait in a bounded in-memory queue (the oldest
is dropped, and counted, when it is full) and one background task delivers them with a timeout,
retries and exponential backoff. The evaluator only ever enqueues.

Signature: `X-BloomWatch-Timestamp: <unix seconds>` and
`X-BloomWatch-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`; a receiver
recomputes it over the raw body and rejects old timestamps (replays). `verify_signature` does that.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import time
from typing import Any

import httpx
from prometheus_client import Counter

from bloomwatch.settings import Settings
from streams import metrics

log = logging.getLogger("bloomwatch.alerts")

NOTIFICATIONS = Counter(
    "bloomwatch_alert_notifications", "Alert notifications sent, per receiver and status",
    ["receiver", "status"], registry=metrics.REGISTRY,
)  # fmt: skip
WEBHOOK_FAILURES = Counter(
    "bloomwatch_alert_webhook_failures", "Webhook deliveries given up or dropped", ["reason"], registry=metrics.REGISTRY
)


def sign(secret: str, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def verify_signature(secret: str, headers, body: bytes, max_age_s: float = 300) -> bool:
    timestamp = headers.get("X-BloomWatch-Timestamp", "")
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > max_age_s:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), headers.get("X-BloomWatch-Signature", ""))


def alert_text(payload: dict[str, Any]) -> str:
    """A notification as a few lines of text (the console of `bloomwatch up`, Slack)."""
    terms = ", ".join(t["term"] for t in payload.get("terms", [])[:5])
    line = (
        f"[{payload['status'].upper()}] {payload['rule']} {payload['group_key'] or ''} ({payload['severity']}): "
        f"observed {payload['observed']:.3g} vs baseline {payload['baseline']:.3g} (z={payload['statistic']:.1f}, "
        f"{payload['documents']} documents), window {payload['window_start']} - {payload['window_end']}"
    )
    return line + (f"\n  terms: {terms}" if terms else "") + f"\n  {payload['dashboard_url']}"


def slack_text(payload: dict[str, Any]) -> dict[str, str]:
    """The Slack-compatible form: one text message."""
    return {"text": alert_text(payload)}


class Webhook:
    def __init__(self, settings: Settings):
        self.url = settings.alerts_webhook_url
        secret = settings.alerts_webhook_secret
        self.secret = secret.get_secret_value() if secret else ""
        self.slack = settings.alerts_webhook_format == "slack"
        self.retries = settings.alerts_webhook_retries
        self.backoff_s = settings.alerts_webhook_backoff_s
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=settings.alerts_webhook_queue)
        self.client = httpx.AsyncClient(timeout=settings.alerts_webhook_timeout_s)
        self.task: asyncio.Task | None = None

    def submit(self, payload: dict[str, Any]) -> None:
        if self.task is None:
            self.task = asyncio.get_running_loop().create_task(self._deliver_forever())
        if self.queue.full():
            dropped = self.queue.get_nowait()
            WEBHOOK_FAILURES.labels("queue_full").inc()
            log.warning("webhook queue full: dropped the notification of alert %s", dropped["alert_id"])
        self.queue.put_nowait(payload)

    async def _deliver_forever(self) -> None:
        while True:
            payload = await self.queue.get()
            await self._deliver(payload)

    async def _deliver(self, payload: dict[str, Any]) -> None:
        body = json.dumps(slack_text(payload) if self.slack else payload).encode()
        for attempt in range(1, self.retries + 2):
            timestamp = str(int(time.time()))
            headers = {"Content-Type": "application/json", "X-BloomWatch-Timestamp": timestamp}
            if self.secret:
                headers["X-BloomWatch-Signature"] = sign(self.secret, timestamp, body)
            try:
                response = await self.client.post(self.url, content=body, headers=headers)
                if response.status_code < 300:
                    NOTIFICATIONS.labels("webhook", payload["status"]).inc()
                    return
                error = f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
            log.warning("webhook %s failed (attempt %d): %s", self.url, attempt, error)
            await asyncio.sleep(self.backoff_s * 2 ** (attempt - 1))
        WEBHOOK_FAILURES.labels("retries_exhausted").inc()
        log.error("webhook %s: gave up on alert %s", self.url, payload["alert_id"])

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        await self.client.aclose()


class Notifier:
    """Sends each notification to the receivers its rule names (topic, log, webhook)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.webhook = Webhook(settings) if settings.alerts_webhook_url else None
        self.producer = None

    async def send(self, payload: dict[str, Any], receivers: list[str]) -> None:
        if "topic" in receivers:  # first, and awaited: the durable record of the notification
            await self._publish(payload)
        if "log" in receivers:
            log.warning("ALERT %s", alert_text(payload))
            NOTIFICATIONS.labels("log", payload["status"]).inc()
        if "webhook" in receivers and self.webhook is not None:
            self.webhook.submit(payload)

    async def _publish(self, payload: dict[str, Any]) -> None:
        """To the alerts topic; a Kafka failure is logged (the table still has the alert)."""
        from aiokafka import AIOKafkaProducer

        from streams.kafka_security import client_options

        try:
            if self.producer is None:
                producer = AIOKafkaProducer(
                    bootstrap_servers=self.settings.kafka_bootstrap, acks="all", **client_options(self.settings)
                )
                await producer.start()
                self.producer = producer
            await self.producer.send_and_wait(
                self.settings.topic_alerts, json.dumps(payload).encode(), key=payload["alert_id"].encode()
            )
            NOTIFICATIONS.labels("topic", payload["status"]).inc()
        except Exception as exc:  # noqa: BLE001 - delivery must not stop evaluation
            log.error("alerts topic %s: %s: %s", self.settings.topic_alerts, type(exc).__name__, exc)

    async def close(self) -> None:
        if self.webhook is not None:
            await self.webhook.close()
        if self.producer is not None:
            await self.producer.stop()
