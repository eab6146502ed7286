"""How every Kafka client BloomWatch makes authenticates: one place turns the `kafka_*` security
settings into aiokafka's keyword arguments and faust's broker credentials, so the publisher, the
admin clients, the alert producer, `status` and the worker all connect the same way.

SASL (SCRAM-SHA-256/512 or PLAIN) needs a user name and a password, from
BLOOMWATCH_KAFKA_SASL_PASSWORD or the file BLOOMWATCH_KAFKA_SASL_PASSWORD_FILE (a mounted
secret); SSL and SASL_SSL verify the broker against BLOOMWATCH_KAFKA_SSL_CAFILE or the system's
CAs. See docs/security.md.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aiokafka.conn import create_conn
from aiokafka.errors import KafkaError, SaslAuthenticationFailed
from aiokafka.helpers import create_ssl_context

from bloomwatch.errors import ExpectedError
from bloomwatch.setting_groups import KafkaSettings


class KafkaSecurityError(ExpectedError, ValueError):
    """The security settings are incomplete (named; the password itself never appears)."""


def sasl_password(kafka: KafkaSettings) -> str:
    if kafka.kafka_sasl_password is not None:
        return kafka.kafka_sasl_password.get_secret_value()
    if kafka.kafka_sasl_password_file is not None:
        return Path(kafka.kafka_sasl_password_file).read_text().strip()
    raise KafkaSecurityError(
        f"BLOOMWATCH_KAFKA_SECURITY_PROTOCOL={kafka.kafka_security_protocol} needs"
        " BLOOMWATCH_KAFKA_SASL_PASSWORD or BLOOMWATCH_KAFKA_SASL_PASSWORD_FILE"
    )


def _ssl_context(kafka: KafkaSettings) -> ssl.SSLContext | None:
    if not kafka.kafka_security_protocol.endswith("SSL"):
        return None
    return create_ssl_context(cafile=str(kafka.kafka_ssl_cafile) if kafka.kafka_ssl_cafile else None)


def _uses_sasl(kafka: KafkaSettings) -> bool:
    return kafka.kafka_security_protocol.startswith("SASL_")


def _username(kafka: KafkaSettings) -> str:
    if not kafka.kafka_sasl_username:
        raise KafkaSecurityError(
            f"BLOOMWATCH_KAFKA_SECURITY_PROTOCOL={kafka.kafka_security_protocol} needs BLOOMWATCH_KAFKA_SASL_USERNAME"
        )
    return kafka.kafka_sasl_username


def client_options(kafka: KafkaSettings) -> dict[str, Any]:
    """Keyword arguments for any aiokafka client (producer, consumer, admin)."""
    options: dict[str, Any] = {"security_protocol": kafka.kafka_security_protocol}
    if context := _ssl_context(kafka):
        options["ssl_context"] = context
    if _uses_sasl(kafka):
        options.update(
            sasl_mechanism=kafka.kafka_sasl_mechanism,
            sasl_plain_username=_username(kafka),
            sasl_plain_password=sasl_password(kafka),
        )
    return options


def faust_credentials(kafka: KafkaSettings):
    """faust's `broker_credentials` for the same settings (None: plaintext)."""
    import faust

    if _uses_sasl(kafka):
        return faust.SASLCredentials(
            username=_username(kafka),
            password=sasl_password(kafka),
            mechanism=kafka.kafka_sasl_mechanism,
            ssl_context=_ssl_context(kafka),
        )
    if context := _ssl_context(kafka):
        return faust.SSLCredentials(context)
    return None


async def check_login(bootstrap: str, options: Mapping[str, Any], timeout_s: float = 10) -> None:
    """Raise KafkaSecurityError if the first bootstrap server refuses these credentials.

    aiokafka's clients report a refused login only as "Unable to bootstrap", the same words as a
    broker that is down; one connection made here tells the two apart, so a wrong user or password
    is named as such. Any other failure is left to the clients, whose errors say it plainly.
    """
    if not str(options.get("security_protocol", "PLAINTEXT")).startswith("SASL_"):
        return
    host, _, port = bootstrap.split(",")[0].strip().rpartition(":")
    try:
        connection = await create_conn(host, int(port), request_timeout_ms=int(timeout_s * 1000), **options)
    except SaslAuthenticationFailed as error:
        raise KafkaSecurityError(
            f"Kafka at {bootstrap} refused user {options.get('sasl_plain_username')!r} ({options.get('sasl_mechanism')}):"
            f" {error}. Check BLOOMWATCH_KAFKA_SASL_USERNAME, the password and BLOOMWATCH_KAFKA_SASL_MECHANISM."
        ) from None
    except (TimeoutError, OSError, KafkaError):
        return
    connection.close()
