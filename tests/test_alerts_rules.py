"""Alert rules, detector, lifecycle, terms and webhook signing: the pure parts, fast."""

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest

from alerts_support import SECRET, WebhookReceiver
from pipeline_support import wait_until_async
from bloomwatch.net import free_port
from bloomwatch.settings import Settings
from streams.alerts.cli import parse_duration
from streams.alerts.detector import WindowCount, judge
from streams.alerts.lifecycle import FIRING, PENDING, RESOLVED, advance
from streams.alerts.notify import WEBHOOK_FAILURES, Webhook, sign, verify_signature
from streams.alerts.rules import RuleFileError, load_rules
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
    assert judge(volume, series([(0, 0)] * 20 + [(90, 90)] * 8 + [(900, 900)]))[-1].anomalous  # later spikes still count


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


def test_over_represented_terms_use_the_dirichlet_prior():
    background = word_counts(["the service was fine and the app works"] * 200)
    focus = word_counts(["the app outage again, refund please"] * 30 + ["the service was fine"] * 5)
    terms = [t["term"] for t in over_represented(focus, background)]
    assert terms[:3] and set(terms[:3]) <= {"outage", "refund", "again", "please"}
    assert "the" not in terms


def test_signatures_verify_and_refuse_tampering_and_replays():
    body = b'{"status": "firing"}'
    now = str(int(time.time()))
    headers = {"X-BloomWatch-Timestamp": now, "X-BloomWatch-Signature": sign(SECRET, now, body)}
    assert verify_signature(SECRET, headers, body)
    assert not verify_signature(SECRET, headers, body + b" ")
    assert not verify_signature("other", headers, body)
    old = str(int(time.time()) - 3600)
    assert not verify_signature(SECRET, {"X-BloomWatch-Timestamp": old, "X-BloomWatch-Signature": sign(SECRET, old, body)}, body)


def test_a_hanging_webhook_never_blocks_the_caller_and_its_queue_is_bounded():
    with WebhookReceiver(free_port(), behaviour="hang") as receiver:
        settings = Settings(alerts_webhook_url=receiver.url, alerts_webhook_timeout_s=0.5, alerts_webhook_queue=3)

        async def submit_many() -> float:
            webhook = Webhook(settings)
            dropped = WEBHOOK_FAILURES.labels("queue_full")._value.get()
            started = time.perf_counter()
            for i in range(10):
                webhook.submit({"alert_id": str(i), "status": "firing"})
            elapsed = time.perf_counter() - started
            await wait_until_async(lambda: receiver.calls >= 1, 10, "the delivery task to reach the receiver")
            await webhook.close()
            assert WEBHOOK_FAILURES.labels("queue_full")._value.get() - dropped >= 6
            return elapsed

        assert asyncio.run(submit_many()) < 0.05
        assert receiver.calls >= 1


def test_durations():
    assert [parse_duration(t) for t in ("90s", "30m", "2h", "1d", "15")] == [90, 1800, 7200, 86400, 15]


def test_exactly_one_evaluator_the_embedded_worker_or_alerts_run_beside_a_server():
    assert Settings(clickhouse_dsn="chdb:///tmp/x").alerts_in_worker
    assert not Settings(clickhouse_dsn="http://ch:8123/default").alerts_in_worker  # `bloomwatch alerts run`
    assert Settings(clickhouse_dsn="http://ch:8123/default", alerts_evaluator="worker").alerts_in_worker
    assert not Settings(clickhouse_dsn="chdb:///tmp/x", alerts_evaluator="off").alerts_in_worker
