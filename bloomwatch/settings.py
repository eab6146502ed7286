"""One settings object for every process; each value can be set with a `BLOOMWATCH_*` env var.

All mutable state (model registry, chDB store, Kafka log dirs, process logs) lives under `home`
so that one directory is the whole deployment on a single machine and tests can point it at a
temporary directory.

The classification tasks are not settings: bloomwatch/tasks.py declares them, and a deployment adds
its own in the TOML file named by the environment variable `BLOOMWATCH_TASKS_FILE` (read there from
the environment, not from `.env`, so every process started with it sees the same tasks; docs/tasks.md).
"""

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bloomwatch.setting_groups import (
    AccessSettings,
    AlertSettings,
    KafkaSettings,
    RetrainSettings,
    ServingSettings,
    StoreSettings,
    WorkerSettings,
)

_REPO = Path(__file__).resolve().parents[1]
# The shared datasets sit beside the checkout (`<repo>/../shared/data`), wherever the command runs from.
_DEFAULT_DATA_DIR = _REPO.parent / "shared" / "data"
# of a document's text; also what a Document is checked against when its validation is given no limit
DEFAULT_MAX_TEXT_CHARS = 20_000


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BLOOMWATCH_", env_file=".env", extra="ignore")

    # --- locations -------------------------------------------------------------------------
    home: Path = Path(".bloomwatch")
    data_dir: Path = _DEFAULT_DATA_DIR
    registry_dir: Path = Field(default_factory=lambda fields: fields["home"] / "models")
    # the default models committed with the code (a registry: base, sentiment, topic): an empty
    # registry starts from them instead of training demo models; "" = none (from-scratch path)
    shipped_models_dir: Path | None = _REPO / "models"

    # --- training ----------------------------------------------------------------------------
    seed: int = 13

    # --- serving ------------------------------------------------------------------------------
    engine: Literal["embedded", "vllm"] = "embedded"
    # the built-in tasks' classifier servers (Task.classifier_url); a tasks file gives its tasks' own
    sentiment_url: str = "http://127.0.0.1:8101"
    topic_url: str = "http://127.0.0.1:8102"
    max_text_chars: int = DEFAULT_MAX_TEXT_CHARS
    max_model_len: int = 512  # tokens; ClassifyClient asks both engines to cut longer texts to this
    serve_max_batch_tokens: int = 8_192  # embedded engine: padded tokens per forward pass
    # torch/OpenMP threads per classifier server, either engine (0 = torch's default). One: with
    # two servers, the worker and Kafka on 2 shared cores, 2-thread passes were 4x slower here.
    serve_threads: int = 1
    # number format of either engine: auto = bf16 where the CPU has native bf16 and the model keeps
    # its labels in bf16 (checked at load, classifiers/precision.py), else fp32; int8 (dynamic
    # quantisation of Linear layers) is the embedded engine's only (vLLM then runs fp32)
    serve_precision: Literal["auto", "fp32", "bf16", "int8"] = "auto"
    reload_poll_s: float = 2.0  # how often servers check the registry's `current` pointer
    vllm_kv_cache_gib: int = 1  # VLLM_CPU_KVCACHE_SPACE; unbounded, vLLM reserves ~92% of RAM
    vllm_start_timeout_s: float = 240.0
    # VLLM_CPU_OMP_THREADS_BIND. vLLM's "auto" pins every instance to the same cores (core 0 of 2,
    # core 1 reserved), so during a version switch the new instance starves beside the old one.
    vllm_cpu_threads_bind: str = "nobind"

    # --- streaming ----------------------------------------------------------------------------
    kafka_bootstrap: str = "127.0.0.1:9092"  # `bloomwatch up` starts its broker on this port
    kafka_controller_port: int | None = None  # that broker's KRaft controller listener (default: the port above + 1)
    topic_news: str = "news"
    topic_reviews: str = "reviews"
    topic_labels: str = "labels"
    topic_alerts: str = "alerts"
    topic_dead_letter: str = "dead-letter"
    topic_partitions: int = 4  # the most workers that can share one input topic
    ingest_port: int = 8095  # standalone `bloomwatch ingest` (POST /documents)
    # A publish waits at most this long for Kafka, then rejects what is unacknowledged as retryable
    publish_timeout_s: float = 10.0
    kafka_outage_reminder_s: float = 60.0  # while Kafka is unreachable, one log line this often (streams/outage_log.py)
    # worker: a batch is up to worker_batch_size messages or what arrived within the timeout
    worker_batch_size: int = 256  # bench/pipeline.py: 256 halves the worker's CPU per document vs 64
    worker_batch_timeout_s: float = 0.25
    worker_concurrency: int = 2  # batches in flight per worker (one classifies while one stores)
    # a worker batch goes to each classifier as requests of this many texts, this many in flight at once
    # (classifiers/client.py): small requests let several replicas behind one URL share a batch
    classify_request_texts: int = 64
    classify_max_concurrency: int = 4
    worker_max_attempts: int = 5  # failures with healthy services before a document is blamed
    worker_retry_backoff_s: float = 0.5
    worker_retry_backoff_max_s: float = 10.0
    worker_group: str = "bloomwatch-worker"  # Kafka consumer group: workers sharing it share partitions
    worker_host: str = "127.0.0.1"  # bind address of the worker's web server (API, /metrics)
    worker_port: int = 6066
    worker_session_timeout_s: float = 10.0  # a killed worker's partitions move after this
    clickhouse_dsn: str | None = None  # default: chdb:///<home>/chdb

    # --- retraining (training/retrain; docs/retraining.md) -------------------------------------
    retrain_cron: str = "0 3 * * *"  # croniter expression: scheduled runs (UTC)
    retrain_check_s: float = 60.0  # how often `bloomwatch retrain --schedule` checks its triggers
    retrain_min_new_labels: int = 200  # labels since the last run that trigger a run on their own
    retrain_drift_psi: float = 0.25  # PSI of a source's predicted-label distribution, recent vs reference
    retrain_drift_confidence: float = 0.15  # drop of a source's mean top probability that counts as drift
    retrain_drift_window_min: float = 60.0  # the recent window
    retrain_drift_reference_min: float = 24 * 60.0  # the reference: this long before the recent window
    retrain_drift_min_docs: int = 100  # per source and window; fewer documents are no evidence
    retrain_holdout_share: float = 0.2  # of the labels, by normalised-text hash: never trained on
    retrain_replay_ratio: float = 2.0  # replayed examples (original training data or stored documents) per new label
    retrain_gate_margin: float = 0.02  # accuracy a fixed test may lose (if the loss is significant) and still promote
    retrain_gate_alpha: float = 0.05  # significance level of the gate's one-sided paired (McNemar) tests
    retrain_min_holdout: int = 30  # held-out labels below which the new labels are too few to promote on
    # the gate scores both models on at most this many examples of each fixed test split (the same
    # ones every run, chosen by text hash): a paired test on 500 is what the decision needs, and the
    # whole of the shared sentiment test splits (12.5k texts) took 4.4 min a model on one core
    retrain_gate_per_source: int = 500
    # without the current model's training data (a fresh deployment): replay and the fixed test
    # come from this many recent stored documents the current model scored with at least this
    # confidence, the fixed test being `retrain_reference_share` of them by text hash
    retrain_reference_pool: int = 5000
    retrain_rehearsal_min_confidence: float = 0.8
    retrain_reference_share: float = 0.2
    retrain_epochs: int = 3
    retrain_lr: float = 1e-3  # LoRA learning rate
    retrain_time_budget_min: float = 20.0
    retrain_threads: int = 1  # torch threads of the retraining process (the stream keeps the rest)
    retrain_nice: int = 10  # process priority increment of the retraining process
    # Linux SCHED_IDLE for the retraining process: it runs only on CPU time nothing else wants, so
    # the stream's processes (worker, classifier servers) never wait for it; nice alone still
    # gives it a share. Off: nice only (e.g. a machine where the retrain would never get a core).
    retrain_sched_idle: bool = True
    # publish -> stored p99 the stream keeps while a retrain runs (bench/retrain.py)
    retrain_stream_p99_bound_s: float = 2.0

    # --- alerts (docs/alerts.md) ----------------------------------------------------------------
    alerts_rules: Path | None = None  # TOML rules file; default: the shipped bloomwatch/alerts/default_rules.toml
    # who evaluates: "auto" = the worker when it owns an embedded chdb:// store, else nobody (run
    # `bloomwatch alerts run` once next to a ClickHouse server); "worker"; "off"
    alerts_evaluator: Literal["auto", "worker", "off"] = "auto"
    alerts_interval_s: float = 2.0  # how often closed windows are looked for
    alerts_grace_s: float = 3.0  # a window is judged this long after it closed, once data reaches past it ...
    alerts_max_lateness_s: float = 60.0  # ... or this long after it closed, whatever arrived
    alerts_max_age_s: float = 3600.0  # published this long before enqueued = backfill, not counted
    alerts_catchup_s: float = 600.0  # windows replayed at start (idempotent): judged while down
    alerts_webhook_url: SecretStr | None = None  # a Slack-style URL is itself the credential: logs show its host only
    alerts_webhook_secret: SecretStr | None = None  # HMAC-SHA256 key of X-BloomWatch-Signature
    alerts_webhook_format: Literal["json", "slack"] = "json"
    alerts_webhook_timeout_s: float = 5.0
    alerts_webhook_retries: int = 4
    alerts_webhook_backoff_s: float = 1.0  # doubled on each retry
    alerts_webhook_queue: int = 1000  # notifications waiting; the oldest is dropped beyond
    alerts_dashboard_url: str | None = None  # base of alert links; default: the worker's URL

    # --- dashboards ---------------------------------------------------------------------------
    dashboard_token: SecretStr | None = None  # the client "dashboard"'s token (bloomwatch/access.py)
    dashboard_host: str = "127.0.0.1"  # `bloomwatch dashboard` (server mode); embedded: the worker's address
    dashboard_port: int = 6070

    # --- access and limits of every HTTP API (bloomwatch/access.py, docs/security.md) -----------
    # Secrets are SecretStr: repr, logs and errors show '**********'. Unset: no token is asked for.
    api_tokens: SecretStr | None = None  # "name=token,name=token" (a bare token: the client "default")
    api_tokens_file: Path | None = None  # the same as lines of a file (e.g. a mounted secret)
    client_token: SecretStr | None = None  # what BloomWatch's own clients send; default: the first token
    rate_limit: str | None = None  # per client, `limits` notation, e.g. "50/second;2000/minute"
    # of one HTTP request body (413 beyond); an ingest body is parsed and validated on the server's
    # event loop, so this bounds how long one request can delay the others (64 MiB: 4 s)
    max_body_bytes: int = 8 * 1024 * 1024
    max_batch: int = 10_000  # documents or labels in one ingest request (413 beyond)
    serve_max_inputs: int = 1_000  # texts in one /classify request (413 beyond); above classify_request_texts
    # names the worker, ingest and dashboard servers answer to besides localhost and IP addresses
    # (comma-separated; "*": any), against DNS rebinding (bloomwatch/browser.py)
    allowed_hosts: str = ""

    # --- Kafka security (streams/kafka_security.py, docs/security.md) ----------------------------
    kafka_security_protocol: Literal["PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL", "SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"] = "SCRAM-SHA-512"
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_sasl_password_file: Path | None = None  # read when kafka_sasl_password is unset
    kafka_ssl_cafile: Path | None = None  # CA bundle for SSL / SASL_SSL (default: the system's)

    @field_validator(
        "shipped_models_dir", "api_tokens", "api_tokens_file", "client_token", "dashboard_token", "alerts_webhook_url", "alerts_webhook_secret",
        "kafka_sasl_password", "kafka_sasl_password_file", "kafka_ssl_cafile", "rate_limit", mode="before",
    )  # fmt: skip
    @classmethod
    def _unset_when_empty(cls, value):
        """`KEY=` in an env file or compose's `${KEY:-}` means "not set" (shipped models: none)."""
        return None if value == "" else value

    @model_validator(mode="after")
    def _derive_paths(self) -> "Settings":
        self.home = self.home.expanduser().resolve()
        self.data_dir = self.data_dir.expanduser().resolve()
        self.registry_dir = self.registry_dir.expanduser().resolve()
        if self.clickhouse_dsn is None:
            self.clickhouse_dsn = f"chdb://{self.home / 'chdb'}"
        return self

    @property
    def alerts_in_worker(self) -> bool:
        """Whether the worker evaluates alert rules (exactly one evaluator per store)."""
        embedded = str(self.clickhouse_dsn).startswith("chdb:")
        return self.alerts_evaluator == "worker" or (self.alerts_evaluator == "auto" and embedded)

    @property
    def clickhouse_where(self) -> str:
        """The ClickHouse DSN without its user and password: what consoles and logs may show."""
        return self.store.clickhouse_where

    def __repr_args__(self):
        """repr, and so any log of the settings, shows the DSN without its password (secrets are SecretStr)."""
        for name, value in super().__repr_args__():
            yield name, self.clickhouse_where if name == "clickhouse_dsn" else value

    @property
    def worker_url(self) -> str:
        """Where the worker's read API and /metrics answer (it owns the embedded store)."""
        return f"http://{self.worker_host}:{self.worker_port}"

    # Each component's own settings (bloomwatch/setting_groups.py), built afresh from these fields
    # on each access: a component keeps the group it was given, a test may still change a field here.
    @property
    def kafka(self) -> KafkaSettings:
        return KafkaSettings.model_validate(self)

    @property
    def store(self) -> StoreSettings:
        return StoreSettings.model_validate(self)

    @property
    def serving(self) -> ServingSettings:
        return ServingSettings.model_validate(self)

    @property
    def worker(self) -> WorkerSettings:
        return WorkerSettings.model_validate(self)

    @property
    def alerts(self) -> AlertSettings:
        return AlertSettings.model_validate(self)

    @property
    def retrain(self) -> RetrainSettings:
        return RetrainSettings.model_validate(self)

    @property
    def access(self) -> AccessSettings:
        return AccessSettings.model_validate(self)


@lru_cache
def get_settings() -> Settings:
    return Settings()
