"""Alert rules, detector, lifecycle, terms and webhook signing: the pure parts, fast."""

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest
from alerts_support import SECRET, WebhookReceiver
from pipeline_support import wait_until_async

from bloomwatch.alerts.detector import WindowCount, judge
from bloomwatch.alerts.lifecycle import FIRING, PENDING, RESOLVED, advance
from bloomwatch.alerts.rules import RuleFileError, load_rules
from bloomwatch.alerts.windows import BadGroupKey, canonical_group_key, group_key, parse_group_key
from bloomwatch.net import free_port
from bloomwatch.settings import Settings
from streams.alerts.cli import parse_duration
from streams.alerts.notify import WEBHOOK_FAILURES, ReplayGuard, Webhook, sign, verify_signature
from streams.alerts.terms import over_represented, word_counts

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def share_rule(**overrides):
    return load_rules().get("negative-share-by-source").model_copy(update={"window_s": 60, **overrides})


def series(counts):
    return [WindowCount(T0 + timedelta(minutes=i), n, x) for i, (n, x) in enumerate(counts)]


def test_the_shipped_rules_load_and_cover_source_topic_and_volume():
    rules = load_rules()
    assert {(r.metric, tuple(r.group_by)) for r in rules.rules} >= {
        ("negative_share", ("source",)), ("negative_share", ("topic",)), ("volume", ("source",)),
    }  # fmt: skip


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ('[[rules]]\nname = "a"\nmetric = "negative_share"\nthreshold = "high"\n', "rules[0].threshold"),
        ('[[rules]]\nname = "a"\nmetric = "negative_share"\nfor_windows = 0\n', "rules[0].for_windows"),
        ('[[rules]]\nname = "a"\nmetric = "sentiment"\n', "rules[0].metric"),
        ('[[rules]]\nname = "a"\nmetric = "volume"\nthreshhold = 3\n', "rules[0].threshhold"),
        ('[[rules]]\nname = "a"\nmetric = "volume"\nscope = { country = ["x"] }\n', "rules[0].scope.country"),
        ('[[rules]]\nname = "a"\nmetric = "volume"\n[[rules]]\nname = "a"\nmetric = "volume"\n', "unique"),
        ("[[rules]\nname = 1\n", "not valid TOML"),
    ],
)
def test_a_bad_rules_file_is_refused_naming_the_file_and_the_key(tmp_path, text, named):
    path = tmp_path / "rules.toml"
    path.write_text(text)
    with pytest.raises(RuleFileError) as error:
        load_rules(path)
    assert str(path) in str(error.value) and named in str(error.value)


def test_the_test_is_volume_aware():
    rule = share_rule(cusum_threshold=None)
    baseline = [(100, 20)] * 10
    assert not judge(rule, series(baseline + [(4, 3)]))[-1].anomalous  # 3 of 4: too few documents
    assert judge(rule, series(baseline + [(400, 300)]))[-1].anomalous
    # significant at high volume but small: the effect-size guard keeps quiet
    assert not judge(rule, series([(10_000, 2_000)] * 10 + [(10_000, 2_300)]))[-1].anomalous


def test_a_new_source_does_not_open_with_a_volume_spike():
    """Empty windows before a source's first document are not a baseline of zero."""
    volume = load_rules().get("volume-by-source")
    verdicts = judge(volume, series([(0, 0)] * 20 + [(90, 90)] * 8))
    assert not any(v.anomalous for v in verdicts)
    assert judge(volume, series([(0, 0)] * 20 + [(90, 90)] * 8 + [(900, 900)]))[
        -1
    ].anomalous  # later spikes still count


def test_a_long_burst_does_not_become_its_own_baseline():
    verdicts = judge(share_rule(), series([(100, 20)] * 10 + [(100, 70)] * 30))
    assert all(v.anomalous for v in verdicts[10:])
    assert verdicts[-1].baseline == pytest.approx(0.2)


def test_a_sustained_moderate_rise_fires_through_the_cusum():
    rule = share_rule(immediate_threshold=None)
    verdicts = judge(rule, series([(60, 6)] * 20 + [(60, 12)] * 6))
    assert not any(v.anomalous for v in verdicts[:20])
    assert any(v.sustained for v in verdicts[20:])


def run_lifecycle(rule, counts, alert=None):
    transitions = []
    for verdict in judge(rule, series(counts)):
        transition = advance(rule, "source=a", alert, verdict, verdict.window.start)
        if transition:
            alert = transition.alert
            transitions.append((alert.state, transition.notify))
    return alert, transitions


def test_pending_firing_resolved_notifies_twice_and_a_replay_changes_nothing():
    rule = share_rule(immediate_threshold=None, cusum_threshold=None)
    counts = [(100, 20)] * 10 + [(100, 60)] * 3 + [(100, 20)] * 3
    alert, transitions = run_lifecycle(rule, counts)
    assert transitions == [(PENDING, False), (FIRING, True), (FIRING, False), (RESOLVED, True)]
    assert alert.fired and alert.started_at == T0 + timedelta(minutes=10)
    _, replayed = run_lifecycle(rule, counts, alert)  # a restart replays the same windows
    assert replayed == []


def test_a_pending_alert_that_does_not_last_ends_without_a_notification():
    rule = share_rule(immediate_threshold=None, cusum_threshold=None)
    alert, transitions = run_lifecycle(rule, [(100, 20)] * 10 + [(100, 60)] + [(100, 20)])
    assert transitions == [(PENDING, False), (RESOLVED, False)] and not alert.fired


def test_cooldown_holds_back_a_new_alert_for_the_group():
    rule = share_rule(cooldown_s=600)
    counts = [(100, 20)] * 10 + [(100, 70), (100, 20), (100, 70)]
    _, transitions = run_lifecycle(rule, counts)
    assert transitions == [(FIRING, True), (RESOLVED, True)]


def english(texts: list[str]) -> list[tuple[str, str]]:
    return [(text, "en") for text in texts]


def test_over_represented_terms_use_the_dirichlet_prior():
    background = word_counts(english(["the service was fine and the app works"] * 200))
    focus = word_counts(english(["the app outage again, refund please"] * 30 + ["the service was fine"] * 5))
    terms = [t["term"] for t in over_represented(focus, background)]
    assert set(terms[:2]) == {"outage", "refund"}


def test_evidence_words_leave_out_each_languages_stop_words():
    counts = word_counts([("A delay of a week, and a problem with the order", "en"), ("Die Bahn und der Zug", "de"),
                          ("the service", "und"), ("la entrega", "xx")])  # fmt: skip
    assert {"a", "of", "and", "the", "die", "und", "der"}.isdisjoint(counts)
    assert {"delay", "week", "problem", "order", "bahn", "zug", "service", "la", "entrega"} <= set(counts)


def test_group_keys_are_unambiguous_and_simple_ones_stay_readable():
    assert group_key(["source"], ["shop-south"]) == "source=shop-south"
    assert canonical_group_key("source=shop-south", ["source"]) == "source=shop-south"  # `alerts silence RULE/GROUP`
    for hostile in ("evil,x", "a=b", "100%", "x,source=y", "shop south", "ünï/cöde"):
        key = group_key(["source", "topic"], [hostile, "business"])
        assert parse_group_key(key) == {"source": hostile, "topic": "business"}
        assert canonical_group_key(key, ["source", "topic"]) == key  # as copied from the alert
    assert canonical_group_key("source=shop south", ["source"]) == "source=shop%20south"  # typed unencoded
    assert canonical_group_key("", ["source"]) == ""  # the whole rule
    for bad, dimensions in [("source=evil,x", ["source"]), ("sauce=x", ["source"]), ("topic=x", ["source"]),
                            ("source=x,source=y", ["source"]), ("source=x", [])]:  # fmt: skip
        with pytest.raises(BadGroupKey):
            canonical_group_key(bad, dimensions)


def test_texts_of_one_word_have_no_over_represented_terms():
    assert over_represented(word_counts(english(["outage"] * 30)), word_counts(english(["outage"] * 200))) == []
    assert (
        over_represented(word_counts(english(["outage"] * 30)), word_counts(english(["fine"] * 200)))[0]["term"]
        == "outage"
    )


def signed_headers(body: bytes, timestamp: str, delivery: str = "d" * 32) -> dict[str, str]:
    return {"X-BloomWatch-Timestamp": timestamp, "X-BloomWatch-Delivery": delivery,
            "X-BloomWatch-Signature": sign(SECRET, timestamp, delivery, body)}  # fmt: skip


def test_signatures_verify_and_refuse_tampering_and_replays():
    body = b'{"status": "firing"}'
    now = str(int(time.time()))
    headers = signed_headers(body, now)
    assert verify_signature(SECRET, headers, body)
    assert not verify_signature(SECRET, headers, body + b" ")
    assert not verify_signature("other", headers, body)
    assert not verify_signature(SECRET, {**headers, "X-BloomWatch-Delivery": "e" * 32}, body)  # the id is signed
    assert not verify_signature(SECRET, {k: v for k, v in headers.items() if k != "X-BloomWatch-Delivery"}, body)
    old = str(int(time.time()) - 3600)
    assert not verify_signature(SECRET, signed_headers(body, old), body)
    guard = ReplayGuard()
    assert guard.first_time(headers) and not guard.first_time(headers)  # the same request again: refused
    assert guard.first_time(signed_headers(body, now, delivery="f" * 32))


def test_every_notification_carries_its_own_signed_delivery_id():
    with WebhookReceiver(free_port()) as receiver:

        async def deliver_two() -> None:
            webhook = Webhook(Settings(alerts_webhook_url=receiver.url, alerts_webhook_secret=SECRET).alerts)
            for i in range(2):
                webhook.submit({"alert_id": str(i), "status": "firing"})
            await wait_until_async(lambda: len(receiver.received) == 2, 10, "both notifications")
            await webhook.close()

        asyncio.run(deliver_two())
    assert all(r.signed for r in receiver.received)
    deliveries = {r.headers["X-BloomWatch-Delivery"] for r in receiver.received}
    assert len(deliveries) == 2 and all(len(d) == 32 for d in deliveries)


def test_a_webhook_url_httpx_rejects_is_reported_and_delivery_goes_on(caplog):
    async def deliver_two() -> bool:
        webhook = Webhook(Settings(alerts_webhook_url="http://x:abc/hook", alerts_webhook_retries=0).alerts)
        failed = WEBHOOK_FAILURES.labels("error")._value.get()
        webhook.submit({"alert_id": "first", "status": "firing"})
        await wait_until_async(
            lambda: WEBHOOK_FAILURES.labels("error")._value.get() == failed + 1, 10, "the first failure"
        )
        webhook.submit({"alert_id": "second", "status": "firing"})
        await wait_until_async(
            lambda: WEBHOOK_FAILURES.labels("error")._value.get() == failed + 2, 10, "the second failure"
        )
        alive = not webhook.task.done()
        await webhook.close()
        return alive

    assert asyncio.run(deliver_two())
    assert [r.getMessage() for r in caplog.records if "gave up on alert" in r.getMessage()][:2] == [
        "webhook x: gave up on alert first: InvalidURL: Invalid port: 'abc'",
        "webhook x: gave up on alert second: InvalidURL: Invalid port: 'abc'",
    ]


def test_a_hanging_webhook_never_blocks_the_caller_and_its_queue_is_bounded():
    with WebhookReceiver(free_port(), behaviour="hang") as receiver:
        settings = Settings(alerts_webhook_url=receiver.url, alerts_webhook_timeout_s=0.5, alerts_webhook_queue=3)

        async def submit_many() -> float:
            webhook = Webhook(settings.alerts)
            dropped = WEBHOOK_FAILURES.labels("queue_full")._value.get()
            started = time.perf_counter()
            for i in range(10):
                webhook.submit({"alert_id": str(i), "status": "firing"})
            elapsed = time.perf_counter() - started
            await wait_until_async(lambda: receiver.calls >= 1, 10, "the delivery task to reach the receiver")
            await webhook.close()
            assert WEBHOOK_FAILURES.labels("queue_full")._value.get() - dropped >= 6
            return elapsed

        # one delivery waited for would take the 0.5 s timeout: ten submits well under it never waited
        # (the bound leaves room for a loaded 2-core machine, where ten submits took up to 75 ms)
        assert asyncio.run(submit_many()) < 0.25
        assert receiver.calls >= 1


def _payload(source: str) -> dict:
    return {
        "alert_id": "a-1", "status": "firing", "rule": "negative-share-by-source", "group_key": f"source={source}",
        "severity": "critical", "observed": 0.8, "baseline": 0.2, "statistic": 6.0, "documents": 40,
        "window_start": "2026-01-01T00:00:00Z", "window_end": "2026-01-01T00:01:00Z",
        "terms": [{"term": "<@U123>"}], "dashboard_url": "http://127.0.0.1:6070/dashboard?source=x&kind=review",
    }  # fmt: skip


def test_slack_text_shows_a_publishers_source_as_text_not_a_ping_or_a_link():
    source = "<!channel> <https://evil.example/login|Reset your SSO password>"
    with WebhookReceiver(free_port()) as receiver:
        settings = Settings(
            alerts_webhook_url=receiver.url, alerts_webhook_format="slack", alerts_webhook_secret=SECRET
        )

        async def deliver() -> None:
            webhook = Webhook(settings.alerts)
            webhook.submit(_payload(source))
            await wait_until_async(lambda: receiver.received, 10, "the Slack message")
            await webhook.close()

        asyncio.run(deliver())
    text = receiver.received[0].payload["text"]
    assert "<" not in text and ">" not in text  # Slack's only control characters, besides & itself
    assert "&lt;!channel&gt; &lt;https://evil.example/login|Reset your SSO password&gt;" in text
    assert "&lt;@U123&gt;" in text and "?source=x&amp;kind=review" in text


def test_the_webhook_url_is_a_secret_logs_and_repr_name_its_host_only(caplog):
    token = "T0000/B0000/XXXXsecretXXXXtoken"
    url = f"http://127.0.0.1:{free_port()}/services/{token}"  # nothing listens: every attempt fails
    settings = Settings(alerts_webhook_url=url, alerts_webhook_retries=1, alerts_webhook_backoff_s=0.01)
    assert token not in repr(settings) and token not in str(settings)
    assert token not in repr(settings.alerts) and token not in repr(settings.kafka)

    async def fail() -> None:
        webhook = Webhook(settings.alerts)
        webhook.submit({"alert_id": "a-1", "status": "firing"})
        await wait_until_async(lambda: "gave up" in caplog.text, 10, "the webhook to give up")
        await webhook.close()

    with caplog.at_level("WARNING", logger="bloomwatch.alerts"):
        asyncio.run(fail())
    assert (
        "webhook 127.0.0.1 failed (attempt 1)" in caplog.text
        and "webhook 127.0.0.1: gave up on alert a-1" in caplog.text
    )
    assert token not in caplog.text and "/services/" not in caplog.text


def test_durations():
    assert [parse_duration(t) for t in ("90s", "30m", "2h", "1d", "15")] == [90, 1800, 7200, 86400, 15]


def test_exactly_one_evaluator_the_embedded_worker_or_alerts_run_beside_a_server():
    assert Settings(clickhouse_dsn="chdb:///tmp/x").alerts_in_worker
    assert not Settings(clickhouse_dsn="http://ch:8123/default").alerts_in_worker  # `bloomwatch alerts run`
    assert Settings(clickhouse_dsn="http://ch:8123/default", alerts_evaluator="worker").alerts_in_worker
    assert not Settings(clickhouse_dsn="chdb:///tmp/x", alerts_evaluator="off").alerts_in_worker
