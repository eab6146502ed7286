"""The per-component settings groups are views of the one Settings: same names, types and values."""

import typing

import pytest
from pydantic import ValidationError

from bloomwatch.setting_groups import SettingGroup, StoreSettings
from bloomwatch.settings import Settings

GROUPS = ("kafka", "store", "serving", "worker", "alerts", "retrain", "access")
# read by a group from a Settings property, not a field: derived from fields, no variable of their own
DERIVED = {"worker_url", "alerts_in_worker"}


def _group_classes() -> dict[str, type[SettingGroup]]:
    return {name: typing.get_type_hints(getattr(Settings, name).fget)["return"] for name in GROUPS}


def test_every_group_field_is_a_settings_field_of_the_same_type():
    fields = Settings.model_fields
    for name, group in _group_classes().items():
        for field_name, field in group.model_fields.items():
            if field_name in DERIVED:
                assert isinstance(getattr(Settings, field_name), property), (name, field_name)
                continue
            assert field_name in fields, f"{name}.{field_name} is no Settings field"
            setting = fields[field_name].annotation
            if field_name == "clickhouse_dsn":  # Settings fills its default in: never None once loaded
                setting = str
            assert field.annotation == setting, (name, field_name, field.annotation, setting)


def test_groups_carry_the_loaded_values(tmp_path, monkeypatch):
    monkeypatch.setenv("BLOOMWATCH_CLASSIFY_REQUEST_TEXTS", "16")
    monkeypatch.setenv("BLOOMWATCH_CLASSIFY_MAX_CONCURRENCY", "2")
    monkeypatch.setenv("BLOOMWATCH_ALERTS_GRACE_S", "7.5")
    monkeypatch.setenv("BLOOMWATCH_KAFKA_SASL_PASSWORD", "hunter2")
    settings = Settings(home=tmp_path, worker_port=7000)
    assert (settings.worker.classify_request_texts, settings.worker.classify_max_concurrency) == (16, 2)
    assert settings.worker.worker_url == "http://127.0.0.1:7000" == settings.alerts.link_base
    assert settings.alerts.alerts_grace_s == 7.5
    assert settings.store.clickhouse_dsn == f"chdb://{tmp_path.resolve() / 'chdb'}"
    assert settings.retrain.registry_dir == tmp_path.resolve() / "models"
    assert "hunter2" not in repr(settings.kafka)
    for name, group in _group_classes().items():
        view = getattr(settings, name)
        for field_name in group.model_fields:
            assert getattr(view, field_name) == getattr(settings, field_name), (name, field_name)


def test_the_classifier_client_sizes_default_to_its_own_defaults():
    """What the worker passes by default is what ClassifyClient did on its own before it was passed."""
    import inspect

    from classifiers.client import ClassifyClient

    defaults = inspect.signature(ClassifyClient).parameters
    worker = Settings().worker
    assert worker.classify_request_texts == defaults["batch_size"].default == 64
    assert worker.classify_max_concurrency == defaults["max_concurrency"].default == 4


def test_a_group_is_frozen_and_hides_the_store_password():
    store = StoreSettings(clickhouse_dsn="http://bloomwatch:secret@clickhouse:8123/default")
    assert store.clickhouse_where == "http://clickhouse:8123/default"
    assert "secret" not in repr(store)
    with pytest.raises(ValidationError):
        store.clickhouse_dsn = "chdb:///elsewhere"  # type: ignore[misc]


def test_a_settings_change_reaches_the_next_group_built():
    settings = Settings()
    settings.alerts_dashboard_url = "https://dash.example"
    assert settings.alerts.link_base == "https://dash.example"
