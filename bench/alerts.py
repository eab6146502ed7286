"""Alert detection benchmark, all figures from one run:

1. simulation: synthetic negative-share streams, 5-minute windows, Poisson volumes.
   Spiky streams: base negative share 0.1 / 0.2 / 0.3, spikes multiplying it by 1.5 / 2 / 3 for
   6 windows (30 min), 4 per simulated day at known onsets, mean volume 20 / 50 / 200 documents
   per window. Stationary streams: the same shares and volumes with a daily volume cycle
   (x0.2 at night to x1.8 at the peak) and no spike. Every stream is scored in the same run by
   the project's detector and lifecycle (the shipped rule `negative-share-by-source`:
   bloomwatch/alerts/detector.py + lifecycle.py, the code the evaluator runs) and by a naive static
   rule (fires when a window's negative share exceeds 50%).
   recall: detected spikes / spikes, for spikes that at least double the share at >= 50 documents
   per window (the target cells); precision: firings during a spike / all firings, over every
   stream; false alarms per simulated day: firings outside spikes; delay: windows from the first
   spiked window to the one whose evaluation fires (0 = the first window that could show it).
2. pipeline (--pipeline): the real pipeline (Kafka, chDB, tiny classifier servers, worker) with
   10-second windows and a negative burst for one source: seconds from the first burst document
   published to the signed webhook call (target <= one window + 10 s).

Writes the alerts.* figures into bench/results.json (read-modify-write, other keys kept).
Usage: python bench/alerts.py [--days 10] [--pipeline]
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from results_file import record  # noqa: E402

from bloomwatch.alerts.detector import WindowCount, judge  # noqa: E402
from bloomwatch.alerts.lifecycle import FIRING, advance  # noqa: E402
from bloomwatch.alerts.rules import load_rules  # noqa: E402

WINDOW_S = 300
WINDOWS_PER_DAY = 86_400 // WINDOW_S
SPIKE_WINDOWS = 6
SPIKES_PER_DAY = 4
T0 = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class Stream:
    base_share: float
    factor: float  # 1 = stationary
    volume: float
    cycle: bool
    days: int
    seed: int

    def simulate(self) -> tuple[list[WindowCount], list[int]]:
        """Window counts and the spike onsets (window indices)."""
        rng = random.Random(self.seed)
        n_windows = self.days * WINDOWS_PER_DAY
        onsets = []
        if self.factor > 1:
            gap = WINDOWS_PER_DAY // SPIKES_PER_DAY
            onsets = [60 + k * gap + rng.randrange(10) for k in range((n_windows - 60) // gap)]
        spiked = {i for onset in onsets for i in range(onset, onset + SPIKE_WINDOWS)}
        windows = []
        for i in range(n_windows):
            mean = self.volume * (1 + 0.8 * math.sin(2 * math.pi * i / WINDOWS_PER_DAY) if self.cycle else 1)
            n = _poisson(rng, mean)
            p = min(0.95, self.base_share * self.factor) if i in spiked else self.base_share
            x = sum(rng.random() < p for _ in range(n))
            windows.append(WindowCount(T0 + timedelta(seconds=i * WINDOW_S), n, x))
        return windows, onsets


def _poisson(rng: random.Random, mean: float) -> int:
    if mean > 60:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return k


def detector_firings(rule, windows: list[WindowCount]) -> list[int]:
    """Window indices at which the project's detector + lifecycle start firing."""
    firings, alert = [], None
    for i, verdict in enumerate(judge(rule, windows)):
        transition = advance(rule, "", alert, verdict, verdict.window.start)
        if transition is not None:
            if transition.alert.state == FIRING and (alert is None or alert.state != FIRING):
                firings.append(i)
            alert = transition.alert
    return firings


def static_firings(windows: list[WindowCount]) -> list[int]:
    """Naive rule: fires when a window's negative share exceeds 50% (and was not already above)."""
    above = [w.n > 0 and w.x / w.n > 0.5 for w in windows]
    return [i for i, on in enumerate(above) if on and (i == 0 or not above[i - 1])]


def score(firings: list[int], onsets: list[int]) -> tuple[list[int | None], int, int]:
    """(delay per spike or None if missed, true firings, false firings)."""
    delays, true = [], 0
    matched = set()
    for onset in onsets:
        hits = [f for f in firings if onset <= f < onset + SPIKE_WINDOWS + 1]
        delays.append(hits[0] - onset if hits else None)
        matched.update(hits)
    true = len(matched)
    return delays, true, len(firings) - true


def simulate(days: int) -> dict[str, float]:
    rule = load_rules().get("negative-share-by-source").model_copy(update={"window_s": WINDOW_S})
    results = {
        name: {"delays": [], "target_delays": [], "true": 0, "false": 0, "days": 0} for name in ("detector", "static")
    }
    streams = [
        Stream(share, factor, volume, cycle=factor == 1, days=days if factor == 1 else max(3, days // 3), seed=seed)
        for seed, (share, factor, volume) in enumerate(
            (s, f, v) for s in (0.1, 0.2, 0.3) for f in (1, 1.5, 2, 3) for v in (20, 50, 200)
        )
    ]
    print(
        f"{'share':>5} {'x':>4} {'vol':>4} {'days':>4} | detector: recall delay false | static: recall false",
        flush=True,
    )
    for stream in streams:
        windows, onsets = stream.simulate()
        row = []
        for name, firings in (("detector", detector_firings(rule, windows)), ("static", static_firings(windows))):
            delays, true, false = score(firings, onsets)
            r = results[name]
            r["true"] += true
            r["false"] += false
            r["days"] += stream.days
            if stream.factor >= 2 and stream.volume >= 50:
                r["target_delays"] += delays
            found = [d for d in delays if d is not None]
            recall = f"{len(found) / len(delays):.2f}" if delays else "  - "
            delay = f"{statistics.median(found):.0f}" if found else "-"
            row.append(f"{recall:>6} {delay:>5} {false / stream.days:5.2f}/d")
        print(
            f"{stream.base_share:5.1f} {stream.factor:4.1f} {stream.volume:4.0f} {stream.days:4d} | {row[0]} | {row[1]}",
            flush=True,
        )

    def summary(name: str) -> dict[str, float]:
        r = results[name]
        found = [d for d in r["target_delays"] if d is not None]
        return {
            "recall": len(found) / len(r["target_delays"]),
            "precision": r["true"] / (r["true"] + r["false"]) if r["true"] + r["false"] else 0.0,
            "false_alarms_per_day": r["false"] / r["days"],
            "median_delay_windows": statistics.median(found) if found else float("nan"),
        }

    detector, static = summary("detector"), summary("static")
    for name, s in (("detector", detector), ("static rule", static)):
        print(
            f"{name}: recall {s['recall']:.3f} (x>=2, >=50 docs/window), precision {s['precision']:.3f}, "
            f"false alarms {s['false_alarms_per_day']:.3f}/day, median delay {s['median_delay_windows']} windows",
            flush=True,
        )
    return {
        "alerts.recall": round(detector["recall"], 4),
        "alerts.precision": round(detector["precision"], 4),
        "alerts.false_alarms_per_day": round(detector["false_alarms_per_day"], 4),
        "alerts.median_delay_windows": detector["median_delay_windows"],
        "alerts.static_rule.recall": round(static["recall"], 4),
        "alerts.static_rule.false_alarms_per_day": round(static["false_alarms_per_day"], 4),
    }


def pipeline_delay() -> dict[str, float]:
    """The real pipeline with 10 s windows: first burst document published -> webhook call."""
    from alerts_support import BurstStream, WebhookReceiver, alert_env, labelled_texts, write_rules
    from conftest import build_tiny_classifier
    from pipeline_support import Deployment, start_classifier

    from bloomwatch.net import free_port
    from streams.broker import KafkaBroker
    from training.registry import Registry

    window_s = 10
    with tempfile.TemporaryDirectory(prefix="bloomwatch-bench-alerts-") as tmp:
        root = Path(tmp)
        registry = Registry(root / "registry")
        for task in ("sentiment", "topic"):
            registry.register(
                task, lambda d, t=task: build_tiny_classifier(t, d), manifest={"base": "random:tiny"}, metrics={}
            )
        broker = KafkaBroker(root / "kafka", free_port())
        broker.start()
        ports = {task: free_port() for task in ("sentiment", "topic")}
        servers = [start_classifier(task, registry.root, port, root) for task, port in ports.items()]
        try:
            urls = {task: f"http://127.0.0.1:{port}" for task, port in ports.items()}
            negative, other = labelled_texts(urls["sentiment"])
            with WebhookReceiver(free_port()) as receiver:
                deployment = Deployment(
                    root=root / "run", bootstrap=broker.bootstrap, sentiment_url=urls["sentiment"], topic_url=urls["topic"],
                    extra_env=alert_env(write_rules(root / "rules.toml", window_s), receiver.url),
                )  # fmt: skip
                deployment.create_topics()
                worker = deployment.start_worker()
                stream = BurstStream(
                    deployment.settings, negative, other, burst_at_s=3.5 * window_s, burst_s=3 * window_s
                )
                stream.start()
                try:
                    firing = receiver.wait_for("firing", timeout_s=120)
                finally:
                    stream.stop.set()
                    worker.stop()
        finally:
            for server in servers:
                server.stop()
            broker.stop()
    delay = firing.at - stream.first_burst_published
    print(
        f"pipeline: first burst document published -> signed webhook call {delay:.1f} s (window {window_s} s)",
        flush=True,
    )
    return {"alerts.e2e_delay_s": round(delay, 2), "alerts.window_s": window_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=30, help="simulated days per stationary stream")
    parser.add_argument("--pipeline", action="store_true", help="also measure the delay on the real pipeline")
    args = parser.parse_args()
    started = time.monotonic()
    figures = simulate(args.days)
    if args.pipeline:
        figures |= pipeline_delay()
    record(figures)
    print(f"{time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
