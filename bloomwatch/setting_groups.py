"""The settings each component takes: read-only views of the one loaded `Settings`, grouped by component.

`Settings` (bloomwatch/settings.py) stays the one place that reads the `BLOOMWATCH_*` variables and
`.env`, holds every default and derives the paths and the DSN; each group here is built from it
(`settings.kafka`, `settings.alerts`, ...) and holds only what its component reads. A group's
field has the name of the `Settings` field it copies, so `BLOOMWATCH_ALERTS_GRACE_S` is
`alerts_grace_s` wherever it is read, and a group is built by attribute (`from_attributes`), with
no second list of defaults to keep in step. A group is frozen: a component cannot change what
another component sees.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, SecretStr


class SettingGroup(BaseModel):
    """A frozen subset of Settings' fields, same names and types."""

    model_config = ConfigDict(frozen=True, from_attributes=True)


class KafkaSettings(SettingGroup):
    """The broker, its topics and credentials: the publisher, topic set-up and every Kafka client."""

    kafka_bootstrap: str
    topic_news: str
    topic_reviews: str
    topic_labels: str
    topic_alerts: str
    topic_dead_letter: str
    topic_partitions: int
    publish_timeout_s: float
    kafka_outage_reminder_s: float
    kafka_security_protocol: Literal["PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL", "SSL"]
    kafka_sasl_mechanism: Literal["SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"]
    kafka_sasl_username: str | None
    kafka_sasl_password: SecretStr | None
    kafka_sasl_password_file: Path | None
    kafka_ssl_cafile: Path | None


class StoreSettings(SettingGroup):
    """Where the store is: store/connect.py opens it from this alone."""

    clickhouse_dsn: str  # Settings fills in the embedded default under the home

    @property
    def clickhouse_where(self) -> str:
        """The DSN without its user and password: what consoles and logs may show."""
        address = urlsplit(self.clickhouse_dsn)
        if "@" not in address.netloc:
            return self.clickhouse_dsn
        return address._replace(netloc=address.netloc.rpartition("@")[2]).geturl()

    def __repr_args__(self):
        """repr, and so any log of the group, shows the DSN without its password."""
        yield "clickhouse_dsn", self.clickhouse_where


class ServingSettings(SettingGroup):
    """A classifier server (`bloomwatch serve`): its engine, limits, threads and reloads."""

    home: Path
    registry_dir: Path
    engine: Literal["embedded", "vllm"]
    max_text_chars: int
    max_model_len: int
    serve_max_batch_tokens: int
    serve_max_inputs: int
    serve_threads: int
    serve_precision: Literal["auto", "fp32", "bf16", "int8"]
    reload_poll_s: float
    vllm_kv_cache_gib: int
    vllm_start_timeout_s: float
    vllm_cpu_threads_bind: str


class WorkerSettings(SettingGroup):
    """The worker's batches, retries, consumer group and web server, and how it calls the classifiers."""

    worker_batch_size: int
    worker_batch_timeout_s: float
    worker_concurrency: int
    classify_request_texts: int  # ClassifyClient's batch_size: texts in one /classify request
    classify_max_concurrency: int  # ClassifyClient's max_concurrency: requests of one batch in flight
    worker_max_attempts: int
    worker_retry_backoff_s: float
    worker_retry_backoff_max_s: float
    worker_group: str
    worker_host: str
    worker_port: int
    worker_session_timeout_s: float
    max_text_chars: int  # the worker's decoder dead-letters longer texts as oversize
    worker_url: str  # derived from host and port


class AlertSettings(SettingGroup):
    """The alert evaluator and its notifier's webhook."""

    alerts_rules: Path | None
    alerts_in_worker: bool  # derived: BLOOMWATCH_ALERTS_EVALUATOR and whether the store is embedded
    alerts_interval_s: float
    alerts_grace_s: float
    alerts_max_lateness_s: float
    alerts_max_age_s: float
    alerts_catchup_s: float
    alerts_webhook_url: SecretStr | None
    alerts_webhook_secret: SecretStr | None
    alerts_webhook_format: Literal["json", "slack"]
    alerts_webhook_timeout_s: float
    alerts_webhook_retries: int
    alerts_webhook_backoff_s: float
    alerts_webhook_queue: int
    alerts_dashboard_url: str | None
    worker_url: str  # alert links point here when alerts_dashboard_url is unset

    @property
    def link_base(self) -> str:
        """Where an alert's dashboard link points."""
        return self.alerts_dashboard_url or self.worker_url


class RetrainSettings(SettingGroup):
    """The retraining job: its triggers, splits, gate and budget, and where it reads and writes."""

    home: Path
    data_dir: Path
    registry_dir: Path
    retrain_cron: str
    retrain_check_s: float
    retrain_min_new_labels: int
    retrain_drift_psi: float
    retrain_drift_confidence: float
    retrain_drift_window_min: float
    retrain_drift_reference_min: float
    retrain_drift_min_docs: int
    retrain_holdout_share: float
    retrain_replay_ratio: float
    retrain_gate_margin: float
    retrain_gate_alpha: float
    retrain_min_holdout: int
    retrain_gate_per_source: int
    retrain_reference_pool: int
    retrain_rehearsal_min_confidence: float
    retrain_reference_share: float
    retrain_epochs: int
    retrain_lr: float
    retrain_time_budget_min: float
    retrain_threads: int
    retrain_nice: int
    retrain_sched_idle: bool


class AccessSettings(SettingGroup):
    """Tokens, rate limits and request limits of the HTTP APIs (bloomwatch/access.py, docs/security.md)."""

    api_tokens: SecretStr | None
    api_tokens_file: Path | None
    client_token: SecretStr | None
    dashboard_token: SecretStr | None
    rate_limit: str | None
    max_body_bytes: int
    max_batch: int
    max_text_chars: int
    allowed_hosts: str
