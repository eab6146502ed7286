"""The access policy and the security settings on their own: token parsing, constant-time
matching, per-client rate limits with Retry-After, masked secrets, Kafka client options."""

import pytest

from bloomwatch.access import AccessPolicy, Denial, TokenFileError, client_headers, configured_tokens, parse_tokens
from bloomwatch.settings import Settings
from streams.kafka_security import KafkaSecurityError, client_options, faust_credentials

SECRET = "tok-3f9a-secret"


def test_tokens_from_pairs_a_bare_token_a_file_and_the_dashboard_token(tmp_path):
    tokens_file = tmp_path / "tokens"
    tokens_file.write_text("# operators\nops=op-token\n\nbot = bot-token  # the CI bot\n")
    settings = Settings(
        home=tmp_path, api_tokens="worker=w-token,grafana=g-token", api_tokens_file=tokens_file, dashboard_token="d-token"
    )
    assert configured_tokens(settings) == {
        "worker": "w-token", "grafana": "g-token", "ops": "op-token", "bot": "bot-token", "dashboard": "d-token",
    }  # fmt: skip
    assert parse_tokens(SECRET, "BLOOMWATCH_API_TOKENS") == {"default": SECRET}
    assert client_headers(settings) == {"Authorization": "Bearer w-token"}  # the first configured token
    assert client_headers(Settings(home=tmp_path, api_tokens="a=x", client_token="y")) == {"Authorization": "Bearer y"}
    assert client_headers(Settings(home=tmp_path)) == {}


def test_a_malformed_token_entry_is_named_without_its_token():
    with pytest.raises(TokenFileError) as error:
        parse_tokens(f"ops={SECRET},ops={SECRET}-2", "tokens.txt")
    assert "ops" in str(error.value) and SECRET not in str(error.value)
    with pytest.raises(TokenFileError, match="entry 2 is not name=token"):
        parse_tokens(f"ops={SECRET}, =x", "tokens.txt")


def test_every_token_is_checked_and_the_client_named():
    policy = AccessPolicy(tokens={"ops": "a" * 16, "bot": "b" * 16}, rate_limits=[], max_body_bytes=100)
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
    policy = AccessPolicy.from_settings(Settings(home=tmp_path, api_tokens="ops=o,bot=b", rate_limit="3/minute"))
    assert [policy.check("o", None, None) for _ in range(3)] == ["ops"] * 3
    refused = policy.check("o", None, None)
    assert isinstance(refused, Denial) and refused.status == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60 and "3 per 1 minute" in refused.message
    assert policy.check("b", None, None) == "bot"  # another client has its own budget
    anonymous = AccessPolicy.from_settings(Settings(home=tmp_path, rate_limit="1/minute"))  # no tokens: by address
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
    assert client_options(Settings(home=tmp_path)) == {"security_protocol": "PLAINTEXT"}
    assert faust_credentials(Settings(home=tmp_path)) is None
    password_file = tmp_path / "kafka-password"
    password_file.write_text(SECRET + "\n")
    sasl = Settings(
        home=tmp_path,
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_mechanism="SCRAM-SHA-256",
        kafka_sasl_username="bloomwatch",
        kafka_sasl_password_file=password_file,
    )
    assert client_options(sasl) == {
        "security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "SCRAM-SHA-256",
        "sasl_plain_username": "bloomwatch", "sasl_plain_password": SECRET,
    }  # fmt: skip
    credentials = faust_credentials(sasl)
    assert (credentials.username, credentials.password, credentials.mechanism.value) == ("bloomwatch", SECRET, "SCRAM-SHA-256")
    assert SECRET not in repr(credentials)
    assert client_options(sasl.model_copy(update={"kafka_security_protocol": "SASL_SSL"}))["ssl_context"] is not None
    with pytest.raises(KafkaSecurityError, match="BLOOMWATCH_KAFKA_SASL_USERNAME"):
        client_options(Settings(home=tmp_path, kafka_security_protocol="SASL_PLAINTEXT", kafka_sasl_password="x"))
    with pytest.raises(KafkaSecurityError, match="PASSWORD"):
        client_options(Settings(home=tmp_path, kafka_security_protocol="SASL_PLAINTEXT", kafka_sasl_username="u"))
