"""The access policy and the security settings on their own: token parsing and scopes,
constant-time matching, per-client rate limits with Retry-After, the browser checks (Host,
Origin, content type), masked secrets, Kafka client options, the vLLM child's environment."""

import pytest

from bloomwatch.access import (
    AccessPolicy,
    Credential,
    Denial,
    TokenFileError,
    client_headers,
    configured_tokens,
    parse_tokens,
)  # fmt: skip
from bloomwatch.browser import BrowserGuard, Refused, parse_allowed_hosts
from bloomwatch.scopes import ADMIN, DASHBOARD_SCOPES, EVERY_SCOPE, INGEST, LABEL, READ, required_scope
from bloomwatch.settings import Settings
from classifiers.vllm_process import inherited_environment
from streams.kafka_security import KafkaSecurityError, client_options, faust_credentials

SECRET = "tok-3f9a-secret"


def test_tokens_from_pairs_a_bare_token_a_file_and_the_dashboard_token(tmp_path):
    tokens_file = tmp_path / "tokens"
    tokens_file.write_text("# operators\nops=op-token\n\nbot = bot-token  # the CI bot\n")
    settings = Settings(
        home=tmp_path,
        api_tokens="worker=w-token,grafana=g-token",
        api_tokens_file=tokens_file,
        dashboard_token="d-token",
    )
    assert {name: credential.token for name, credential in configured_tokens(settings.access).items()} == {
        "worker": "w-token", "grafana": "g-token", "ops": "op-token", "bot": "bot-token", "dashboard": "d-token",
    }  # fmt: skip
    assert parse_tokens(SECRET, "BLOOMWATCH_API_TOKENS") == {"default": Credential(SECRET, EVERY_SCOPE)}
    assert client_headers(settings.access) == {"Authorization": "Bearer w-token"}  # the first configured token
    assert client_headers(Settings(home=tmp_path, api_tokens="a=x", client_token="y").access) == {
        "Authorization": "Bearer y"
    }
    assert client_headers(Settings(home=tmp_path).access) == {}


def test_a_malformed_token_entry_is_named_without_its_token():
    with pytest.raises(TokenFileError) as error:
        parse_tokens(f"ops={SECRET},ops={SECRET}-2", "tokens.txt")
    assert "ops" in str(error.value) and SECRET not in str(error.value)
    with pytest.raises(TokenFileError, match="entry 2 is not name=token"):
        parse_tokens(f"ops={SECRET}, =x", "tokens.txt")


def test_scopes_from_the_token_entries_and_the_dashboard_token(tmp_path):
    settings = Settings(
        home=tmp_path, api_tokens="old=o-token, grafana:read=g-token, bot : ingest+label = b-token", dashboard_token="d"
    )
    scopes = {name: credential.scopes for name, credential in configured_tokens(settings.access).items()}
    assert scopes == {"old": EVERY_SCOPE, "grafana": {READ}, "bot": {INGEST, LABEL}, "dashboard": DASHBOARD_SCOPES}
    assert DASHBOARD_SCOPES == {READ, LABEL}
    with pytest.raises(TokenFileError, match="entry 1: unknown scope write") as error:
        parse_tokens(f"ops:read+write={SECRET}", "tokens.txt")
    assert SECRET not in str(error.value)
    with pytest.raises(TokenFileError, match="no scope after"):
        parse_tokens(f"ops:={SECRET}", "tokens.txt")


def test_the_scope_a_request_needs_fails_closed():
    assert required_scope("GET", "/api/stats") == required_scope("head", "/dashboard") == READ
    assert required_scope("POST", "/classify") == READ  # classifies, changes nothing
    assert required_scope("POST", "/documents") == INGEST and required_scope("POST", "/labels") == LABEL
    for path in ("/api/silences", "/api/alerts/a1/ack", "/api/model-versions", "/api/some-future-route"):
        assert required_scope("POST", path) == ADMIN, path
    assert required_scope("DELETE", "/labels") == ADMIN


def test_a_token_outside_its_scopes_is_refused_403():
    policy = AccessPolicy(
        tokens={"dash": Credential("d" * 16, DASHBOARD_SCOPES), "ops": Credential("o" * 16, frozenset({ADMIN}))},
        rate_limits=[], max_body_bytes=100,
    )  # fmt: skip
    assert policy.check("d" * 16, None, None, READ) == "dash"
    assert policy.check("d" * 16, None, None, LABEL) == "dash"
    refused = policy.check("d" * 16, None, None, ADMIN)
    assert isinstance(refused, Denial) and refused.status == 403 and "needs 'admin'" in refused.message
    assert policy.check("d" * 16, None, None, INGEST).status == 403
    assert all(policy.check("o" * 16, None, None, scope) == "ops" for scope in (READ, INGEST, LABEL, ADMIN))


def test_browser_checks_host_origin_and_content_type():
    guard = BrowserGuard(parse_allowed_hosts(" BloomWatch.corp , worker "))
    for host in ("127.0.0.1:6066", "localhost:6066", "[::1]:6066", "10.1.2.3", "bloomwatch.corp", "worker:6066", None):
        guard.check("GET", host, None, None)  # allowed: no exception
    with pytest.raises(Refused, match="'rebind.evil.example' is not served here") as refused:
        guard.check("GET", "rebind.evil.example:6066", None, None)
    assert refused.value.status == 403
    BrowserGuard(parse_allowed_hosts("*")).check("GET", "anything.example", None, None)
    json_type = "application/json; charset=utf-8"
    guard.check("POST", "127.0.0.1:6066", None, json_type)  # no Origin: not a browser
    guard.check("POST", "127.0.0.1:6066", "http://127.0.0.1:6066", json_type)  # same origin
    guard.check("POST", "worker:6066", "https://bloomwatch.corp", json_type)  # an allowed name (a proxy in front)
    for origin in ("http://evil.example", "null", "http://127.0.0.1:9999"):
        with pytest.raises(Refused, match="cross-origin") as refused:
            guard.check("POST", "127.0.0.1:6066", origin, json_type)
        assert refused.value.status == 403
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None):
        with pytest.raises(Refused, match="application/json") as refused:
            guard.check("POST", "127.0.0.1:6066", None, content_type)
        assert refused.value.status == 415


def test_the_vllm_child_inherits_no_bloomwatch_secret(monkeypatch):
    monkeypatch.setenv("BLOOMWATCH_API_TOKENS", f"ops={SECRET}")
    monkeypatch.setenv("BLOOMWATCH_CLICKHOUSE_DSN", f"http://u:{SECRET}@ch:8123")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("VLLM_LOGGING_LEVEL", "INFO")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    env = inherited_environment()
    assert SECRET not in repr(env) and not any(name.startswith("BLOOMWATCH_") for name in env)
    assert env["VLLM_LOGGING_LEVEL"] == "INFO" and env["OMP_NUM_THREADS"] == "1" and "PATH" in env


def test_every_token_is_checked_and_the_client_named():
    tokens = {"ops": Credential("a" * 16, EVERY_SCOPE), "bot": Credential("b" * 16, EVERY_SCOPE)}
    policy = AccessPolicy(tokens=tokens, rate_limits=[], max_body_bytes=100)
    assert policy.check("b" * 16, "10.0.0.1", None) == "bot"
    missing, wrong = policy.check(None, "10.0.0.1", None), policy.check("b" * 15, "10.0.0.1", None)
    assert isinstance(missing, Denial) and missing.status == 401 and "missing" in missing.message
    assert isinstance(wrong, Denial) and wrong.status == 401 and "wrong" in wrong.message
    assert policy.check("", "10.0.0.1", None).status == 401
    too_big = policy.check("a" * 16, "10.0.0.1", 101)
    assert too_big.status == 413 and "the limit is 100" in too_big.message
    assert AccessPolicy.is_open("/health") and AccessPolicy.is_open("/dashboard/static/app.js")
    assert not AccessPolicy.is_open("/dashboard") and not AccessPolicy.is_open("/metrics")


def test_rate_limits_count_per_client_and_say_when_to_retry(tmp_path):
    policy = AccessPolicy.from_settings(Settings(home=tmp_path, api_tokens="ops=o,bot=b", rate_limit="3/minute").access)
    assert [policy.check("o", None, None) for _ in range(3)] == ["ops"] * 3
    refused = policy.check("o", None, None)
    assert isinstance(refused, Denial) and refused.status == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60 and "3 per 1 minute" in refused.message
    assert policy.check("b", None, None) == "bot"  # another client has its own budget
    anonymous = AccessPolicy.from_settings(
        Settings(home=tmp_path, rate_limit="1/minute").access
    )  # no tokens: by address
    assert anonymous.check(None, "10.0.0.1", None) == "address 10.0.0.1"
    assert anonymous.check(None, "10.0.0.1", None).status == 429
    assert anonymous.check(None, "10.0.0.2", None) == "address 10.0.0.2"


def test_settings_never_show_secrets(tmp_path):
    settings = Settings(
        home=tmp_path,
        api_tokens=f"ops={SECRET}",
        dashboard_token=SECRET + "-d",
        client_token=SECRET + "-c",
        kafka_sasl_password=SECRET + "-k",
        alerts_webhook_secret=SECRET + "-w",
        clickhouse_dsn=f"http://bloomwatch:{SECRET}-ch@clickhouse:8123/default",
    )
    for shown in (repr(settings), str(settings), settings.clickhouse_where):
        assert SECRET not in shown
    assert settings.clickhouse_where == "http://clickhouse:8123/default"
    assert settings.kafka_sasl_password.get_secret_value() == SECRET + "-k"
    assert Settings(home=tmp_path, api_tokens="", kafka_sasl_password="").api_tokens is None  # `KEY=`: unset


def test_kafka_client_options_follow_the_security_settings(tmp_path):
    assert client_options(Settings(home=tmp_path).kafka) == {"security_protocol": "PLAINTEXT"}
    assert faust_credentials(Settings(home=tmp_path).kafka) is None
    password_file = tmp_path / "kafka-password"
    password_file.write_text(SECRET + "\n")
    sasl = Settings(
        home=tmp_path,
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_mechanism="SCRAM-SHA-256",
        kafka_sasl_username="bloomwatch",
        kafka_sasl_password_file=password_file,
    )
    assert client_options(sasl.kafka) == {
        "security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "SCRAM-SHA-256",
        "sasl_plain_username": "bloomwatch", "sasl_plain_password": SECRET,
    }  # fmt: skip
    credentials = faust_credentials(sasl.kafka)
    assert (credentials.username, credentials.password, credentials.mechanism.value) == (
        "bloomwatch",
        SECRET,
        "SCRAM-SHA-256",
    )
    assert SECRET not in repr(credentials)
    assert (
        client_options(sasl.model_copy(update={"kafka_security_protocol": "SASL_SSL"}).kafka)["ssl_context"] is not None
    )
    with pytest.raises(KafkaSecurityError, match="BLOOMWATCH_KAFKA_SASL_USERNAME"):
        client_options(Settings(home=tmp_path, kafka_security_protocol="SASL_PLAINTEXT", kafka_sasl_password="x").kafka)
    with pytest.raises(KafkaSecurityError, match="PASSWORD"):
        client_options(Settings(home=tmp_path, kafka_security_protocol="SASL_PLAINTEXT", kafka_sasl_username="u").kafka)
