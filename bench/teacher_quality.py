"""The MiniLM teacher itself on the sentiment test splits and the behaviour suite: what a 22.7 M
parameter pre-trained encoder, fine-tuned on the same mix, reaches where the 5 M BLOOM student falls
short of the TF-IDF bar. It reads the fine-tuned encoder a `bloomwatch train --teacher minilm` run
cached (training/encoder_teacher.py) and prints its accuracy and macro-F1 per split, and its
behaviour-suite groups and largest invariance flip.
Usage: python bench/teacher_quality.py --encoder HOME/cache/teacher/encoders/KEY [--out /tmp/teacher.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO)]

import torch  # noqa: E402
from transformers import AutoModelForSequenceClassification, AutoTokenizer  # noqa: E402

from bloomwatch.settings import get_settings  # noqa: E402
from bloomwatch.tasks import labels_for  # noqa: E402
from training.behaviour import score_behaviour  # noqa: E402
from training.data import load_shared  # noqa: E402
from training.encoder_teacher import MAX_LEN  # noqa: E402
from training.evaluate import predict_proba, score  # noqa: E402
from training.mix import by_source  # noqa: E402
from training.runtime import configure_threads  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoder", type=Path, required=True, help="a cached fine-tuned encoder's directory")
    parser.add_argument("--out", type=Path, help="the figures as JSON")
    args = parser.parse_args()
    print(f"torch threads: {configure_threads()}; {args.encoder}", flush=True)
    model = AutoModelForSequenceClassification.from_pretrained(args.encoder, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(args.encoder)
    labels = labels_for("sentiment")

    def predict(texts):
        return predict_proba(model, tokenizer, list(texts), max_len=MAX_LEN)

    tests = by_source([e for r in load_shared(get_settings().data_dir, "sentiment", "test") for e in r.examples])
    figures: dict = {"test": {}}
    for split, items in tests.items():
        result = score([e.label for e in items], predict([e.text for e in items]), labels)
        figures["test"][split] = {"acc": result["acc"], "macro_f1": result["macro_f1"]}
        print(f"{split:18s} acc {result['acc']:.4f}  macro-F1 {result['macro_f1']:.4f}", flush=True)
    behaviour = score_behaviour(predict, labels)
    figures["behaviour"] = {group: v["acc"] for group, v in behaviour["groups"].items()}
    figures["max_flip_rate"] = behaviour["max_flip_rate"]
    print("behaviour suite: " + ", ".join(f"{g} {acc:.3f}" for g, acc in figures["behaviour"].items()))
    print(f"largest invariance flip rate: {behaviour['max_flip_rate']:.3f}")
    if args.out:
        args.out.write_text(json.dumps(figures, indent=2))
        print(f"figures written to {args.out}")


if __name__ == "__main__":
    main()
