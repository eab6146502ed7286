"""Shared fixtures: real (tiny) BLOOM models built and saved here, never downloaded or faked."""

import os
from pathlib import Path

import pytest
import torch
from transformers import BloomForSequenceClassification

from bloomwatch.tasks import labels_for
from training.modeling import bloom_config
from training.registry import Registry
from training.tokenizer import train_bpe_tokenizer

SAMPLE_TEXTS = [
    "Shares of the bank fell sharply after the profit warning.",
    "The new phone has a great screen and the battery lasts all day.",
    "Terrible service, the food was cold and the waiter was rude.",
    "The central bank left interest rates unchanged on Thursday.",
    "The striker scored twice as the home team won the cup final.",
    "Scientists launched a satellite to study the solar wind.",
    "I loved this film, the acting is superb and the story moving.",
    "The company reported a loss and cut its dividend.",
    "Peace talks resumed in the capital after a week of fighting.",
    "Quarterly revenue rose 12 percent, beating analyst forecasts.",
    "Worst purchase ever; it broke after two days.",
    "An average hotel, nothing special but clean enough.",
]


def build_tiny_classifier(task: str, out_dir: Path, seed: int = 0, preset: str = "tiny", **config) -> Path:
    """A randomly initialised BLOOM classifier with a tokenizer trained here, saved as an HF directory.

    vLLM's CPU attention needs a head size of 32 or more: serving tests use `preset="small"`.
    `config` overrides BloomConfig fields.
    """
    torch.manual_seed(seed)
    tokenizer = train_bpe_tokenizer(SAMPLE_TEXTS * 20, vocab_size=400)
    labels = labels_for(task)
    config = bloom_config(
        preset,
        tokenizer,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
        **config,
    )
    model = BloomForSequenceClassification(config).eval()
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    return out_dir


def declared_task_file(path: Path, name: str, labels: tuple[str, ...], port: int = 8199) -> Path:
    """A tasks file (BLOOMWATCH_TASKS_FILE) declaring one task of its own beside the built-in ones."""
    labels_toml = ", ".join(f'"{label}"' for label in labels)
    path.write_text(f'[[task]]\nname = "{name}"\nlabels = [{labels_toml}]\nurl = "http://127.0.0.1:{port}"\n')
    return path


def tiny_registry_at(root: Path, **config) -> Registry:
    """A registry at `root` whose `current` sentiment and topic models are tiny random BLOOMs
    (`config`: BloomConfig overrides, as for build_tiny_classifier)."""
    registry = Registry(root)
    for task in ("sentiment", "topic"):
        registry.register(
            task,
            lambda d, task=task: build_tiny_classifier(task, d, **config),
            manifest={"base": "random:tiny", "method": "none"},
            metrics={},
        )
    return registry


def pytest_collection_modifyitems(config, items):
    """Skip `native_bf16` tests where the CPU lacks it, decided by the product's own detection."""
    from bloomwatch.cpu import NoNativeBf16, require_native_bf16

    try:
        require_native_bf16("this test runs only where the CPU has it")
    except NoNativeBf16 as missing:
        skip = pytest.mark.skip(reason=str(missing))
        for item in items:
            if "native_bf16" in item.keywords:
                item.add_marker(skip)


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny models on a shared CPU run fastest on one thread."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def keyword_tokenizer():
    from training_corpus import keyword_tokenizer

    return keyword_tokenizer()


@pytest.fixture(scope="session")
def tiny_registry(tmp_path_factory) -> Registry:
    return tiny_registry_at(tmp_path_factory.mktemp("registry"))


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory) -> str:
    """Bootstrap address of a real Kafka broker: BLOOMWATCH_TEST_KAFKA_BOOTSTRAP (CI starts one up
    front with scripts/kafka.sh) or one started here on a free port in a temporary directory."""
    if bootstrap := os.environ.get("BLOOMWATCH_TEST_KAFKA_BOOTSTRAP"):
        yield bootstrap
        return
    from bloomwatch.net import free_port
    from streams.broker import KafkaBroker

    with KafkaBroker(tmp_path_factory.mktemp("kafka"), free_port()) as broker:
        yield broker.bootstrap
