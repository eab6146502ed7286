"""The base a classifier is fine-tuned from: a named checkpoint, the registered domain base, or one
pre-trained on the spot.

`bloomwatch pretrain` builds the domain base once, from the large unlabelled corpus, and registers
it as `models/base/<version>` (with `current`); `bloomwatch train` fine-tunes from it. Only when
no base is registered (a fresh install, the tests, `up`'s fast path) does a training run pre-train
its own small base from its training texts, cached under `<home>/pretrained/<key>`.

A pre-training run lives in `<home>/pretrain-runs/<key>/` (tokenizer, packed corpus, checkpoint,
snapshots), keyed by everything that determines it, so running the same command again after a
kill or a time budget continues the same run.

`--languages zh,de,...` adds those languages' text to the corpus and switches to the multilingual
tokenizer (cased, CJK characters one token each; training/tokenizer.py); the registered base's
manifest lists the languages it read.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from training.data import Example, fingerprint
from training.pretrain import PretrainConfig

if TYPE_CHECKING:
    from training.tokenizer import TokenizerKind

BASE_PRESET = "compact"
# Default vocabulary of a multilingual base, whatever the preset. Chinese costs up to two merges
# per character (three UTF-8 bytes), and the corpus's 2,000 most frequent characters make 99% of
# its Chinese text. Trained on the shared data's zh/de/es/fr/en corpus, 20k tokens make ~1,700
# characters and ~98% of held-out Chinese characters one token each, and German 3.5 characters a
# token (3.1 at 12k, 3.8 at 28k; English 4.2): past it the gains flatten while the embedding
# matrix, tied to the output layer, grows (20k x 256 = 5.1 M parameters in `small`).
MULTILINGUAL_VOCAB = 20_000


@dataclass
class PretrainOptions:
    preset: str = BASE_PRESET
    vocab_size: int | None = None  # default: the preset's
    max_tokens: int = 6_000_000
    time_budget_min: float | None = None
    seq_len: int = 128
    batch_size: int = 32
    lr: float = 2e-3
    extra_files: list[Path] = field(default_factory=list)
    snapshot_tokens: list[int] = field(default_factory=list)
    checkpoint_every_s: float = 300.0
    seed: int = 13
    device: str | None = None
    progress: bool = True
    continue_from: str | None = None  # a registered base version to keep pre-training (fresh schedule)
    languages: list[str] = field(default_factory=list)  # besides English, e.g. ["zh", "de"] (LANGUAGE_SOURCES)


def _key(recipe: dict) -> str:
    return hashlib.sha256(json.dumps(recipe, sort_keys=True, default=str).encode()).hexdigest()[:12]


def run_pretraining(options: PretrainOptions, *, data_dir: Path, home: Path, registry, console):
    """Pre-train (or continue) the domain base and register it; returns the registered version."""
    import torch
    from transformers import AutoTokenizer, BloomForCausalLM

    from training.corpus import build_corpus
    from training.modeling import bloom_config, preset
    from training.pretrain import pack_texts, perplexity, pretrain
    from training.registry import BASE
    from training.runtime import seed_everything
    from training.tokenizer import TokenizerKind, train_bpe_tokenizer

    seed_everything(options.seed)
    languages = sorted(set(options.languages) - {"en"})
    parent = registry.get(BASE, options.continue_from) if options.continue_from else None
    parent_metrics = parent.metrics if parent else {}  # read once: each access reads metrics.json
    parent_tokens = int(parent_metrics.get("tokens_seen", 0))
    if parent is not None and parent_tokens >= options.max_tokens:
        raise ValueError(
            f"base {parent.version} has already seen {parent_tokens:,} tokens; --max-tokens is the total, so set it above that"
        )
    preset_name = parent.manifest["preset"] if parent else options.preset
    kind = _tokenizer_kind(parent, languages)
    if parent:
        vocab_size = parent.manifest["recipe"]["vocab_size"]
    elif options.vocab_size:
        vocab_size = options.vocab_size
    else:
        vocab_size = MULTILINGUAL_VOCAB if kind == TokenizerKind.MULTILINGUAL else preset(preset_name)["vocab_size"]
    # ~4.3 characters per token on the English corpus; sample 10% more than one pass needs. A continued
    # run samples for the total, so the text beyond the parent's sample is new to the model. Other
    # languages come on top, whole (training/corpus.py).
    corpus = build_corpus(
        data_dir, chars=int(options.max_tokens * 4.3 * 1.1), extra_files=options.extra_files, languages=languages
    )
    steps = max(1, (options.max_tokens - parent_tokens) // (options.batch_size * options.seq_len))
    recipe = {
        "preset": preset_name, "vocab_size": vocab_size, "corpus": corpus.fingerprint, "seq_len": options.seq_len,
        "batch_size": options.batch_size, "lr": options.lr, "steps": steps, "seed": options.seed,
    }  # fmt: skip
    if kind != TokenizerKind.LOWERCASE:  # absent from the English recipe: its runs keep their directories
        recipe.update(tokenizer=str(kind), languages=languages)
    if parent:
        recipe.update(parent=f"base-{parent.version}", parent_corpus=parent.manifest["corpus"]["fingerprint"])
    run_dir = Path(home) / "pretrain-runs" / _key(recipe)
    run_dir.mkdir(parents=True, exist_ok=True)
    console.print(f"pre-training run {run_dir} ({len(corpus.train):,} texts; {json.dumps(corpus.parts)})")
    if parent:
        console.print(
            f"continuing base {parent.version} ({parent_tokens:,} tokens seen) with its tokenizer: {parent.path}"
        )
        tokenizer = AutoTokenizer.from_pretrained(parent.path)
        tokenizer.save_pretrained(run_dir)  # beside the snapshots, as in a run from scratch
    elif (run_dir / "tokenizer.json").exists():
        tokenizer = AutoTokenizer.from_pretrained(run_dir)
    else:
        console.print(f"training a {vocab_size}-token byte-level BPE tokenizer ({kind})")
        tokenizer = train_bpe_tokenizer(corpus.train[::3], vocab_size=vocab_size, kind=kind)
        tokenizer.save_pretrained(run_dir)
    blocks_path = run_dir / "blocks.pt"
    if blocks_path.exists():
        blocks, heldout = torch.load(blocks_path)
    else:
        console.print("tokenizing the corpus")
        blocks = pack_texts(corpus.train, tokenizer, options.seq_len)
        heldout = pack_texts(corpus.heldout, tokenizer, options.seq_len)
        torch.save((blocks, heldout), blocks_path)
    if parent:  # trained in fp32 whatever dtype the parent is stored in
        model = BloomForCausalLM.from_pretrained(parent.path, dtype=torch.float32)
    else:
        model = BloomForCausalLM(bloom_config(preset_name, tokenizer))
    n_params = sum(p.numel() for p in model.parameters())
    tokens_per_step = options.batch_size * options.seq_len
    config = PretrainConfig(
        steps=steps, seq_len=options.seq_len, batch_size=options.batch_size, lr=options.lr, seed=options.seed,
        time_limit_s=options.time_budget_min * 60 if options.time_budget_min else None,
        snapshot_steps=[(t - parent_tokens) // tokens_per_step for t in options.snapshot_tokens if t > parent_tokens], checkpoint_every_s=options.checkpoint_every_s,
    )  # fmt: skip
    console.print(
        f"BLOOM preset {preset_name!r}: {n_params / 1e6:.1f} M parameters; corpus {blocks.numel():,} tokens; "
        f"{steps} steps x {tokens_per_step} tokens = {steps * tokens_per_step:,} tokens"
    )
    result = pretrain(model, blocks, config, run_dir=run_dir, device=options.device, progress=options.progress)
    ppl = perplexity(model, heldout[:256], device=options.device)
    ppl_by_language = (
        _perplexity_by_language(model, tokenizer, corpus.heldout_by_language, options)
        if kind == TokenizerKind.MULTILINGUAL
        else {}
    )
    first_step = int(parent_metrics.get("steps", 0))
    tokens = parent_tokens + result.steps_done * tokens_per_step
    console.print(
        f"held-out perplexity {ppl:.1f} after {tokens:,} tokens ({result.tokens_per_s:.0f} tokens/s this run)"
    )
    if ppl_by_language:
        console.print(
            "held-out perplexity by language: " + ", ".join(f"{k} {v:.1f}" for k, v in ppl_by_language.items())
        )
    manifest = {
        "kind": "pretrained-here",
        "preset": preset_name,
        "languages": sorted({"en", *languages, *(parent.manifest.get("languages", ["en"]) if parent else [])}),
        "tokenizer": str(kind),
        "parent": f"base-{parent.version}" if parent else None,
        "parameters": n_params,
        "recipe": recipe,
        "run_dir": str(run_dir),
        "corpus": {"fingerprint": corpus.fingerprint, "characters": corpus.parts, "tokens": int(blocks.numel())},
        "complete": result.complete,
        "command": "bloomwatch pretrain "
        + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in _cli_args(options).items()),
    }
    metrics = {
        "tokens_seen": tokens,
        "steps": first_step + result.steps_done,
        "hours": result.seconds / 3600 + parent_metrics.get("hours", 0.0),  # the parent's hours included
        "tokens_per_s": result.tokens_per_s,
        "heldout_perplexity": ppl,
        "heldout_tokens": int(heldout[:256].numel()),
        **({"heldout_perplexity_by_language": ppl_by_language} if ppl_by_language else {}),
        # every 10th step's loss: the whole curve, small enough for metrics.json
        # a continued run's curve follows its parent's, its steps counted on from the parent's last
        "loss_curve": parent_metrics.get("loss_curve", [])
        + [
            [first_step + i + 1, round(sum(result.losses[i : i + 10]) / len(result.losses[i : i + 10]), 4)]
            for i in range(0, len(result.losses), 10)
        ],
    }

    def save(directory: Path) -> None:
        model.save_pretrained(directory, safe_serialization=True)
        tokenizer.save_pretrained(directory)

    version = registry.register(BASE, save, manifest=manifest, metrics=metrics, promote=result.complete)
    if result.complete:
        console.print(f"registered and promoted base {version.version}: {version.path}")
    else:
        console.print(
            f"[yellow]time budget reached at step {result.steps_done}/{steps}[/]: registered {version.path} unpromoted; "
            f"run the same command again to continue from {run_dir / 'checkpoint.pt'}"
        )
    return version


def _perplexity_by_language(model, tokenizer, heldout: dict[str, list[str]], options: PretrainOptions) -> dict:
    """Held-out perplexity of each language on its own (up to 64 blocks each): the headline figure is
    mostly English, which has the most held-out text. Comparable across runs of one tokenizer only."""
    from training.pretrain import pack_texts, perplexity

    out = {}
    for lang, lines in heldout.items():
        try:
            blocks = pack_texts(lines, tokenizer, options.seq_len)[:64]
        except ValueError:  # less than one block of held-out text: no figure rather than a noisy one
            continue
        out[lang] = perplexity(model, blocks, device=options.device)
    return out


def _tokenizer_kind(parent, languages: list[str]) -> TokenizerKind:
    """A continued base keeps its parent's tokenizer; other languages need the multilingual one."""
    from training.tokenizer import TokenizerKind

    if parent is None:
        return TokenizerKind.MULTILINGUAL if languages else TokenizerKind.LOWERCASE
    kind = TokenizerKind(parent.manifest["recipe"].get("tokenizer", TokenizerKind.LOWERCASE))
    if languages and kind != TokenizerKind.MULTILINGUAL:
        raise ValueError(
            f"base {parent.version} has a {kind} tokenizer, which --languages cannot continue "
            "(case and Chinese characters are lost); pre-train a new base with --languages instead"
        )
    return kind


def _cli_args(options: PretrainOptions) -> dict:
    keys = ("preset", "vocab_size", "max_tokens", "seq_len", "batch_size", "lr", "seed", "continue_from")
    args = {k: v for k, v in asdict(options).items() if k in keys and v is not None}
    if options.continue_from:  # the parent's architecture and tokenizer are kept: a --preset would only mislead
        args.pop("preset", None)
        args.pop("vocab_size", None)
    if options.languages:
        args["languages"] = ",".join(sorted(set(options.languages)))
    return args


def _training_texts(train: list[Example], extra: list[Path]) -> list[str]:
    from training.corpus import text_lines

    return [e.text for e in train] + [text for path in extra for text in text_lines(Path(path))]


def build_base(options, train: list[Example], home: Path, console, registry) -> tuple[str, dict]:
    """(directory or hub id to `from_pretrained`, description for the manifest)."""
    from training.registry import BASE

    if options.base:
        return options.base, {"kind": "checkpoint", "name": options.base}
    registered = None if options.fast else registry.current(BASE)
    if registered is not None:
        console.print(f"fine-tuning from the registered base {registered.version}: {registered.path}")
        return str(registered.path), {"kind": "registered-base", "name": f"base-{registered.version}", "dir": str(registered.path),
                                      "corpus": registered.manifest.get("corpus", {}).get("fingerprint"),
                                      "tokens_seen": registered.metrics.get("tokens_seen")}  # fmt: skip
    return _pretrain_on_training_texts(options, train, home, console)


def _pretrain_on_training_texts(options, train: list[Example], home: Path, console) -> tuple[str, dict]:
    """No registered base: a small one from the training texts alone, cached by its recipe."""
    from transformers import BloomForCausalLM

    from training.modeling import bloom_config, preset
    from training.pretrain import pack_texts, pretrain
    from training.tokenizer import train_bpe_tokenizer

    texts = _training_texts(train, options.extra_corpus)
    vocab_size = options.vocab_size or preset(options.preset)["vocab_size"]
    recipe = {
        "preset": options.preset,
        "vocab_size": vocab_size,
        "corpus": fingerprint([Example(t, "", "") for t in texts]),
        "pretrain": asdict(options.pretrain),
        "seed": options.seed,
    }
    out = Path(home) / "pretrained" / f"{options.task}-{options.preset}-{_key(recipe)}"
    info = {"kind": "pretrained-here", "dir": str(out), **recipe}
    if (out / "pretrain.json").exists():
        console.print(f"re-using pre-trained base {out}")
        return str(out), {**info, **json.loads((out / "pretrain.json").read_text())}

    import torch

    torch.manual_seed(options.seed)
    console.print(f"no registered base (bloomwatch pretrain): pre-training a small one on {len(texts)} training texts")
    tokenizer = train_bpe_tokenizer(texts, vocab_size=vocab_size)
    model = BloomForCausalLM(bloom_config(options.preset, tokenizer))
    n_params = sum(p.numel() for p in model.parameters())
    console.print(
        f"pre-training BLOOM preset {options.preset!r} ({n_params / 1e6:.1f} M parameters), {options.pretrain.steps} steps"
    )
    started = time.monotonic()
    result = pretrain(
        model,
        pack_texts(texts, tokenizer, options.pretrain.seq_len),
        options.pretrain,
        device=options.device,
        progress=options.progress,
    )
    stats = {
        "parameters": n_params,
        "loss_first_20": sum(result.losses[:20]) / len(result.losses[:20]),
        "loss_last_20": sum(result.losses[-20:]) / len(result.losses[-20:]),
        "seconds": time.monotonic() - started,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.with_name(out.name + ".partial")
    model.save_pretrained(staging, safe_serialization=True)
    tokenizer.save_pretrained(staging)
    (staging / "pretrain.json").write_text(json.dumps(stats, indent=2))
    staging.rename(out)
    return str(out), {**info, **stats}
