"""How a sentiment model reads the demo's own sentences (bloomwatch/phrasebook.py): every subject ×
verdict of each language's phrasebook, the share it labels right, per language and per label. The
demo's market reviews are these sentences, so this is what the dashboard shows for those shops.
Usage: python bench/phrasebook.py --model REGISTRY/sentiment/v7
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

from bloomwatch.phrasebook import PHRASEBOOKS  # noqa: E402
from training.evaluate import predict_proba  # noqa: E402
from training.runtime import configure_threads  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="a registered sentiment classifier's directory")
    args = parser.parse_args()
    print(f"torch threads: {configure_threads()}; {args.model}", flush=True)
    model = AutoModelForSequenceClassification.from_pretrained(args.model, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
    reads = json.loads((args.model / "bloomwatch.json").read_text())["languages"]
    for language, book in PHRASEBOOKS.items():
        rows = book.every_sentence()
        predicted = [labels[i] for i in predict_proba(model, tokenizer, [t for t, _ in rows]).argmax(1)]
        right = [p == gold for p, (_, gold) in zip(predicted, rows, strict=True)]
        per_label = {
            label: sum(r for r, (_, gold) in zip(right, rows, strict=True) if gold == label) / sum(g == label for _, g in rows)
            for label in book.phrases
        }  # fmt: skip
        reading = "reads it" if language in reads else "does not read it"
        print(f"{language} ({reading}, {len(rows)} sentences): right on {sum(right) / len(rows):.0%}; "
              + ", ".join(f"{label} {share:.0%}" for label, share in per_label.items()))  # fmt: skip


if __name__ == "__main__":
    main()
