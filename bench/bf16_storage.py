"""Whether a classifier may be stored in bf16: its answers on the test splits of the languages it
reads, from its trained (fp32) weights and from the same weights rounded to bf16, both run in fp32
as the embedded engine runs them. Prints, per split, both accuracies and macro-F1s, the share of
texts whose label is the same, and the largest change of a probability; `scripts/ship_defaults.py
--bf16` stores the rounded copy.
Usage: python bench/bf16_storage.py --model REGISTRY/sentiment/v4 [--out /tmp/bf16.json]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO)]

import torch  # noqa: E402
from transformers import AutoModelForSequenceClassification, AutoTokenizer  # noqa: E402

from bloomwatch.settings import get_settings  # noqa: E402
from training.data import load_shared, task_sources  # noqa: E402
from training.evaluate import predict_proba, score  # noqa: E402
from training.mix import by_source  # noqa: E402
from training.quantize import store_in_bf16  # noqa: E402
from training.runtime import configure_threads  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="a registered classifier's directory")
    parser.add_argument("--out", type=Path, help="the figures as JSON")
    args = parser.parse_args()
    manifest = json.loads((args.model / "bloomwatch.json").read_text())
    languages = [lang for lang in manifest["languages"] if lang != "en"]
    max_len = manifest["training_config"]["finetune"]["max_len"]  # as its metrics.json measured it
    sources = set(task_sources(manifest["task"], languages))
    if "en" not in manifest["languages"]:
        sources -= set(task_sources(manifest["task"]))
    print(f"torch threads: {configure_threads()}; {args.model} ({', '.join(manifest['languages'])})", flush=True)
    reports = load_shared(get_settings().data_dir, manifest["task"], "test", languages=languages)
    tests = {s: items for s, items in by_source([e for r in reports for e in r.examples]).items() if s in sources}
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    with tempfile.TemporaryDirectory() as tmp:
        rounded = Path(tmp) / "bf16"
        shutil.copytree(args.model, rounded)
        store_in_bf16(rounded)  # what scripts/ship_defaults.py --bf16 ships
        models = [
            AutoModelForSequenceClassification.from_pretrained(d, dtype=torch.float32) for d in (args.model, rounded)
        ]
        sizes = [(d / "model.safetensors").stat().st_size for d in (args.model, rounded)]
        figures = {}
        for split, items in tests.items():
            texts, gold = [e.text for e in items], [e.label for e in items]
            fp32, bf16 = (predict_proba(m, tokenizer, texts, max_len=max_len) for m in models)
            labels = [models[0].config.id2label[i] for i in range(fp32.shape[1])]
            a, b = score(gold, fp32, labels), score(gold, bf16, labels)
            figures[split] = {"fp32": {k: a[k] for k in ("acc", "macro_f1")}, "bf16": {k: b[k] for k in ("acc", "macro_f1")},
                              "same_label": float((fp32.argmax(1) == bf16.argmax(1)).mean()),
                              "max_prob_change": float(abs(fp32 - bf16).max())}  # fmt: skip
            f = figures[split]
            print(f"{split:22s} fp32 {a['acc']:.4f} / {a['macro_f1']:.4f}  bf16 {b['acc']:.4f} / {b['macro_f1']:.4f}  "
                  f"same label {f['same_label']:.4f}  largest probability change {f['max_prob_change']:.4f}", flush=True)  # fmt: skip
    print(f"weights on disk: fp32 {sizes[0] / 1e6:.1f} MB, bf16 {sizes[1] / 1e6:.1f} MB")
    if args.out:
        args.out.write_text(json.dumps({"model": str(args.model), "sizes": sizes, "splits": figures}, indent=2))
        print(f"figures written to {args.out}")


if __name__ == "__main__":
    main()
