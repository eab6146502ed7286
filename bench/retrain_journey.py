"""Issue 30's journey, timed, with the shipped models and the shared data (`../shared/data`):

`bloomwatch up` on a fresh home; 40 labels for the documents `bloomwatch label queue` offers (each
the gold label of the shared validation text it is, as a careful annotator would give; queue
documents of the synthetic demo sources have none and are passed over); 10 corrections posted to
`POST /labels` as the dashboard sends them (stored documents the model got wrong); then
`bloomwatch retrain --task sentiment`, whose wall time is `retrain.journey.minutes` (the first run
on that home: the current model's gate answers are not cached yet). Its decision and the gate's
figures are printed; `up` is stopped with SIGTERM at the end.

The retrain runs SCHED_IDLE as configured: run this on an otherwise idle machine, since any other
busy process (even at nice 19) comes before it. Writes bench/results.json (other keys kept).
Usage: python bench/retrain_journey.py [--home DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "bench")]

from results_file import record  # noqa: E402

from bloomwatch.settings import get_settings  # noqa: E402
from training.data import TASK_SOURCES, normalise_text, shared_available, shared_split_path  # noqa: E402

API = f"http://127.0.0.1:{get_settings().worker_port}"


def gold_labels(data_dir: Path) -> dict[str, str]:
    """Normalised text -> gold label over the sentiment validation splits (what the demo replays)."""
    gold = {}
    for source in TASK_SOURCES["sentiment"]:
        for line in shared_split_path(data_dir, source, "val").open(encoding="utf-8"):
            row = json.loads(line)
            gold[normalise_text(row["text"])] = row["label"]
    return gold


def wait_for_documents(n: int, up: subprocess.Popen, timeout_s: float = 600) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if up.poll() is not None:
            raise SystemExit(f"bloomwatch up exited ({up.returncode}); see its log")
        try:
            if httpx.get(f"{API}/api/documents/count", timeout=5).json()["count"] >= n:
                return
        except (httpx.HTTPError, KeyError, ValueError):
            pass
        time.sleep(5)
    raise SystemExit(f"fewer than {n} documents stored after {timeout_s:.0f} s")


def label_queue(home: Path, gold: dict[str, str], n: int) -> set[str]:
    """Labels `n` of the queued documents (gold labels) through `bloomwatch label add`; their ids."""
    queue = home / "queue.jsonl"
    subprocess.run(
        ["bloomwatch", "label", "queue", "--task", "sentiment", "--n", str(2 * n), "--out", str(queue)], check=True
    )
    rows = [json.loads(line) for line in queue.read_text(encoding="utf-8").splitlines()]
    labels = [{"document_id": r["document_id"], "task": "sentiment", "label": gold[normalise_text(r["text"])], "annotator": "bench"}
              for r in rows if normalise_text(r["text"]) in gold][:n]  # fmt: skip
    filled = home / "labels.jsonl"
    filled.write_text("".join(json.dumps(label) + "\n" for label in labels), encoding="utf-8")
    subprocess.run(["bloomwatch", "label", "add", str(filled)], check=True)
    return {label["document_id"] for label in labels}


def corrections(gold: dict[str, str], n: int, queued: set[str]) -> int:
    documents = httpx.get(f"{API}/api/documents/search", params={"limit": 1000}, timeout=30).json()["documents"]
    sent = 0
    for doc in documents:
        label = gold.get(normalise_text(doc["text"]))
        if sent == n or doc["id"] in queued or label is None or label == doc["sentiment"]["label"]:
            continue
        httpx.post(
            f"{API}/labels",
            json={"document_id": doc["id"], "task": "sentiment", "label": label, "annotator": "dashboard"},
            timeout=30,
        ).raise_for_status()
        sent += 1
    return sent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--home", type=Path, default=None, help="fresh BLOOMWATCH_HOME [default: a new temporary directory]"
    )
    args = parser.parse_args()
    settings = get_settings()
    if not shared_available(settings.data_dir, "sentiment"):
        raise SystemExit(f"this journey needs the shared sentiment data in {settings.data_dir} (BLOOMWATCH_DATA_DIR)")
    home = args.home or Path(tempfile.mkdtemp(prefix="bench-journey-"))
    os.environ["BLOOMWATCH_HOME"] = str(home)
    gold = gold_labels(settings.data_dir)
    log = home / "up.log"
    print(f"bloomwatch up on {home}; its log: {log}", flush=True)
    with log.open("w") as out:
        up = subprocess.Popen(["bloomwatch", "up"], stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for_documents(400, up)
        queued = label_queue(home, gold, 40)
        corrected = corrections(gold, 10, queued)
        time.sleep(5)  # the worker stores the labels
        load = os.getloadavg()
        started = time.monotonic()
        subprocess.run(["bloomwatch", "retrain", "--task", "sentiment"], check=True)
        minutes = (time.monotonic() - started) / 60
    finally:
        up.terminate()
        up.wait(timeout=120)
    print(f"load average before the retrain: {load[0]:.2f}")
    record({"retrain.journey.minutes": round(minutes, 2), "retrain.journey.labels": len(queued) + corrected})


if __name__ == "__main__":
    main()
