"""Keep secrets out of logs and error messages.

Secrets come only from the environment (or ``.env``, or the platform's secret store, which sets
environment variables). ``install()`` makes every log record, from any library, replace the value
of each secret with ``***`` before a handler sees it; ``redact()`` does the same for a message.
A secret is the value of a setting or variable whose name says so (``*_KEY``, ``*TOKEN*``,
``*SECRET*``, ``*PASSWORD*``).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable

SECRET_NAME = re.compile(r"(API_?KEY|_KEY$|TOKEN|SECRET|PASSWORD)", re.IGNORECASE)
MIN_LENGTH = 6  # shorter values would blank out ordinary words
MASK = "***"
_secrets: list[str] = []
_installed = False


def secret_values(environ: dict[str, str] | None = None, extra: Iterable[str] = ()) -> list[str]:
    """Return the secret values to hide: environment variables with secret names, and ``extra``."""
    environ = dict(os.environ if environ is None else environ)
    values = {v for k, v in environ.items() if SECRET_NAME.search(k) and len(v) >= MIN_LENGTH}
    values |= {v for v in extra if v and len(v) >= MIN_LENGTH}
    return sorted(values, key=len, reverse=True)  # longest first: a secret containing another one


def _settings_secrets() -> list[str]:
    """Secrets held by the settings (also those read from ``.env``, which is not in the environment)."""
    try:
        from ..settings import Settings

        settings = Settings()
    except Exception:  # invalid settings are reported by the command itself
        return []
    out = []
    for name in Settings.model_fields:
        value = getattr(settings, name, None)
        if hasattr(value, "get_secret_value"):
            out.append(value.get_secret_value())
    return out


def redact(text: str, secrets: Iterable[str] | None = None) -> str:
    """Return ``text`` with every secret value replaced by ``***``."""
    for value in secret_values(extra=_settings_secrets()) if secrets is None else secrets:
        text = text.replace(value, MASK)
    return text


def install() -> None:
    """Redact secrets in every log record created from now on in this process.

    Safe to call again: the secrets known then are added to the ones already hidden.
    """
    global _installed
    known = set(_secrets) | set(secret_values(extra=_settings_secrets()))
    _secrets[:] = sorted(known, key=len, reverse=True)
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
