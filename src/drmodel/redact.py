"""Secrets never reach the terminal: keys, session tokens and passwords are masked in logs, tracebacks and errors."""

from __future__ import annotations

import logging
import os
import re

MASK = "****"
PATTERNS = [
    re.compile(r"\b(A(?:KIA|SIA|GPA|IDA|ROA)[A-Z0-9]{12,})\b"),  # access key ids
    re.compile(r"(?i)(Credential=)[^/,\s]+"),
    re.compile(r"(?i)(Signature=)[0-9a-f]+"),
    re.compile(r"(?i)(x-amz-security-token['\"]?\s*[:=]\s*['\"]?b?['\"]?)[^'\",\s}]+"),
    re.compile(r"(?i)(['\"]?(?:PASSWORD|SecretKey|SecretAccessKey|SessionToken|IdToken|AccessToken|RefreshToken|"
               r"aws_secret_access_key|aws_session_token)['\"]?\s*[:=]\s*['\"]?)[^'\",\s}]+"),
]
SECRET_VARIABLES = re.compile(r"^(AWS_SECRET_ACCESS_KEY|AWS_SESSION_TOKEN|AWS_SECURITY_TOKEN|DRMODEL_DROA_PASSWORD.*)$")


def _known_secrets() -> list[str]:
    return [v for k, v in os.environ.items() if SECRET_VARIABLES.match(k) and len(v) >= 4]


def redact(text: str) -> str:
    for secret in sorted(_all_secrets(), key=len, reverse=True):
        text = text.replace(secret, MASK)
    text = PATTERNS[0].sub(MASK, text)
    for pattern in PATTERNS[1:]:
        text = pattern.sub(lambda m: m.group(1) + MASK, text)
    return text


class RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def register_secret(value: str | None) -> None:
    """A secret learned at run time (a password typed at the prompt, temporary keys) is masked from now on."""
    if value and len(value) >= 4:
        _runtime.append(value)


_runtime: list[str] = []


def _all_secrets() -> list[str]:
    return _known_secrets() + _runtime
