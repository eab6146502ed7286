"""One settings object for every process; each value can be set with a `BLOOMWATCH_*` env var.

All mutable state (model registry, chDB store, Kafka log dirs, process logs) lives under `home`
so that one directory is the whole deployment on a single machine and tests can point it at a
temporary directory.
"""

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BLOOMWATCH_", env_file=".env", extra="ignore")

    # --- locations -------------------------------------------------------------------------
    home: Path = Path(".bloomwatch")
    data_dir: Path = Path("../shared/data")
    registry_dir: Path | None = None  # default: <home>/models

    # --- training ----------------------------------------------------------------------------
    seed: int = 13

    # --- serving ------------------------------------------------------------------------------
    engine: Literal["embedded", "vllm"] = "embedded"
    sentiment_url: str = "http://127.0.0.1:8101"
    topic_url: str = "http://127.0.0.1:8102"
    max_text_chars: int = 20_000

    # --- streaming ----------------------------------------------------------------------------
    kafka_bootstrap: str = "127.0.0.1:9092"
    clickhouse_dsn: str | None = None  # default: chdb:///<home>/chdb

    @model_validator(mode="after")
    def _derive_paths(self) -> "Settings":
        self.home = self.home.expanduser().resolve()
        self.data_dir = self.data_dir.expanduser().resolve()
        if self.registry_dir is None:
            self.registry_dir = self.home / "models"
        self.registry_dir = self.registry_dir.expanduser().resolve()
        if self.clickhouse_dsn is None:
            self.clickhouse_dsn = f"chdb://{self.home / 'chdb'}"
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
