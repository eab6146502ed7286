"""Delivery of alert notifications: the `alerts` Kafka topic, the log, and a signed webhook.

The webhook never slows the stream: notifications wait in a bounded in-memory queue (the oldest
is dropped, and counted, when it is full) and one background task delivers them with a timeout,
retries and exponential backoff. The evaluator only ever enqueues.

Signature: `X-BloomWatch-Timestamp: <unix seconds>`, `X-BloomWatch-Delivery: <32 hex digits,
one per notification, the same on its retries>` and
`X-BloomWatch-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<delivery>.<body>")>`; a
receiver recomputes it over the raw body and rejects old timestamps (`verify_signature`), and
acts once per delivery id seen within that age (`ReplayGuard`): a request captured and sent
again minutes later is refused on its timestamp, one sent again at once on its delivery id.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Collection
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
from prometheus_client import Counter

from bloomwatch.setting_groups import AlertSettings, KafkaSettings
from streams import metrics

if TYPE_CHECKING:
    from aiokafka import AIOKafkaProducer

log = logging.getLogger("bloomwatch.alerts")

NOTIFICATIONS = Counter(
    "bloomwatch_alert_notifications", "Alert notifications sent, per receiver and status",
    ["receiver", "status"], registry=metrics.REGISTRY,
)  # fmt: skip
WEBHOOK_FAILURES = Counter(
    "bloomwatch_alert_webhook_failures", "Webhook deliveries given up or dropped", ["reason"], registry=metrics.REGISTRY
)


def sign(secret: str, timestamp: str, delivery: str, body: bytes) -> str:
    material = f"{timestamp}.{delivery}.".encode() + body
    return "sha256=" + hmac.new(secret.encode(), material, hashlib.sha256).hexdigest()


def verify_signature(secret: str, headers, body: bytes, max_age_s: float = 300) -> bool:
    """A receiver's check: signed with `secret` (body, timestamp and delivery id) and fresh."""
    timestamp, delivery = headers.get("X-BloomWatch-Timestamp", ""), headers.get("X-BloomWatch-Delivery", "")
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > max_age_s or not delivery:
        return False
    return hmac.compare_digest(sign(secret, timestamp, delivery, body), headers.get("X-BloomWatch-Signature", ""))


class ReplayGuard:
    """A receiver's memory of the delivery ids it acted on, for as long as `verify_signature`
    accepts their timestamps (after that the timestamp refuses a replay on its own)."""

    def __init__(self, max_age_s: float = 300):
        self.max_age_s = max_age_s
        self._seen: OrderedDict[str, float] = OrderedDict()

    def first_time(self, headers) -> bool:
        """True the first time a (verified) delivery id is seen: act on it; False: a retry or a
        replay of one already acted on (answer 2xx so the sender stops, and do nothing)."""
        now = time.monotonic()
        while self._seen and now - next(iter(self._seen.values())) > 2 * self.max_age_s:  # past +- max_age_s
            self._seen.popitem(last=False)
        delivery = headers.get("X-BloomWatch-Delivery", "")
        if delivery in self._seen:
            return False
        self._seen[delivery] = now
        return True


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
    """The Slack-compatible form: one text message. Sources and terms come from publishers, and
    Slack reads `<!channel>` as a ping and `<url|label>` as a disguised link: `&`, `<` and `>` are
    escaped as Slack's message formatting asks, so every character shows as sent."""
    text = alert_text(payload).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return {"text": text}


class Webhook:
    """Delivers to the configured URL. The URL is a secret (a Slack webhook URL is the credential
    to post): it is used here only, and logs name its host (`self.where`)."""

    def __init__(self, settings: AlertSettings):
        if settings.alerts_webhook_url is None:
            raise ValueError("a webhook needs BLOOMWATCH_ALERTS_WEBHOOK_URL")
        self.url = settings.alerts_webhook_url.get_secret_value()
        self.where = urlsplit(self.url).hostname or "the webhook"
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
        """One notification after another; whatever delivering one raises is counted and logged,
        and the next one is delivered: this task must outlive any URL, payload or receiver."""
        while True:
            payload = await self.queue.get()
            try:
                await self._deliver(payload)
            except Exception as exc:  # noqa: BLE001 - e.g. httpx.InvalidURL, which is no HTTPError
                WEBHOOK_FAILURES.labels("error").inc()
                log.error(
                    "webhook %s: gave up on alert %s: %s", self.where, payload.get("alert_id"), self._describe(exc)
                )

    async def _deliver(self, payload: dict[str, Any]) -> None:
        body = json.dumps(slack_text(payload) if self.slack else payload).encode()
        delivery = uuid.uuid4().hex  # one per notification: a receiver acts on it once
        for attempt in range(1, self.retries + 2):
            timestamp = str(int(time.time()))
            headers = {
                "Content-Type": "application/json",
                "X-BloomWatch-Timestamp": timestamp,
                "X-BloomWatch-Delivery": delivery,
            }
            if self.secret:
                headers["X-BloomWatch-Signature"] = sign(self.secret, timestamp, delivery, body)
            try:
                response = await self.client.post(self.url, content=body, headers=headers)
                if response.status_code < 300:
                    NOTIFICATIONS.labels("webhook", payload["status"]).inc()
                    return
                error = f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                error = self._describe(exc)
            log.warning("webhook %s failed (attempt %d): %s", self.where, attempt, error)
            await asyncio.sleep(self.backoff_s * 2 ** (attempt - 1))
        WEBHOOK_FAILURES.labels("retries_exhausted").inc()
        log.error("webhook %s: gave up on alert %s", self.where, payload["alert_id"])

    def _describe(self, exc: Exception) -> str:
        """An error for the log; some messages quote the URL: never log it."""
        return f"{type(exc).__name__}: {str(exc).replace(self.url, self.where)}"

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        await self.client.aclose()


class Notifier:
    """Sends each notification to the receivers its rule names (topic, log, webhook)."""

    def __init__(self, alerts: AlertSettings, kafka: KafkaSettings):
        self.kafka = kafka  # the alerts topic
        self.webhook = Webhook(alerts) if alerts.alerts_webhook_url else None
        self.producer: AIOKafkaProducer | None = None  # started on the first notification for the topic

    async def send(self, payload: dict[str, Any], receivers: Collection[str]) -> None:
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
                    bootstrap_servers=self.kafka.kafka_bootstrap, acks="all", **client_options(self.kafka)
                )
                await producer.start()
                self.producer = producer
            await self.producer.send_and_wait(
                self.kafka.topic_alerts, json.dumps(payload).encode(), key=payload["alert_id"].encode()
            )
            NOTIFICATIONS.labels("topic", payload["status"]).inc()
        except Exception as exc:  # noqa: BLE001 - delivery must not stop evaluation
            log.error("alerts topic %s: %s: %s", self.kafka.topic_alerts, type(exc).__name__, exc)

    async def close(self) -> None:
        if self.webhook is not None:
            await self.webhook.close()
        if self.producer is not None:
            await self.producer.stop()
