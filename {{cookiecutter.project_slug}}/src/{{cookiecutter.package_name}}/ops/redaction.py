"""Keep secrets (values of settings and variables named ``*_KEY``, ``*TOKEN*``, ``*SECRET*``,
``*PASSWORD*``) out of logs and error messages: each becomes ``***``."""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Iterable

SECRET_NAME = re.compile(r"(API_?KEY|_KEY$|TOKEN|SECRET|PASSWORD)", re.IGNORECASE)
MIN_LENGTH = 6  # shorter values would blank out ordinary words
_secrets: list[str] = []
_installed = False


def known_secrets() -> list[str]:
    """Return the values to hide, longest first (one may contain another): secret settings and variables."""
    values = {value for name, value in os.environ.items() if SECRET_NAME.search(name)}
    with contextlib.suppress(Exception):  # invalid settings are reported by the command itself
        from pydantic import SecretStr

        from ..settings import Settings

        # The settings also read .env, which is not in the environment.
        values |= {v.get_secret_value() for v in dict(Settings()).values() if isinstance(v, SecretStr)}
    return sorted((value for value in values if len(value) >= MIN_LENGTH), key=len, reverse=True)


def redact(text: str, secrets: Iterable[str] | None = None) -> str:
    """Return ``text`` with every secret value replaced by ``***``."""
    for value in known_secrets() if secrets is None else secrets:
        text = text.replace(value, "***")
    return text


def install() -> None:
    """Redact secrets in every log record created from now on; again adds the secrets known then."""
    global _installed
    _secrets[:] = sorted({*_secrets, *known_secrets()}, key=len, reverse=True)
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: object, **kwargs: object) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        if not _secrets:
            return record
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it to the handler to report
            return record
        record.msg, record.args = redact(message, _secrets), None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info), _secrets)
        return record

    logging.setLogRecordFactory(factory)
    _installed = True
