"""Keep secrets out of logs: proxy URLs carry credentials (``https://user:pass@host:port``,
or without a scheme, ``user:pass@host:port``).

``mask_url(url)`` gives a loggable form; ``mask_secrets(text, secrets)`` scrubs known secret
values from any message (an exception text that echoes the proxy URL, for instance);
``SecretFilter`` does the same for every log record of a logger tree. The environment
variables that hold secrets are registered with ``watch_env`` (the config's ``proxy_env``,
whatever it names); ``mask_known(text)`` masks the values of all of them.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable
from urllib.parse import urlsplit

MASK = "***"
_URL_IN_TEXT = re.compile(r"\b([a-zA-Z][a-zA-Z0-9+.-]*://)([^/\s:@]+)(:[^@\s/]*)?@")
# ``user:pass@host`` without a scheme (a proxy URL missing its "http://").
_BARE_CREDENTIALS = re.compile(r"(?<![\w/:@.%+-])[^\s/:@'\"()<>]+:[^\s/@'\"()<>]*@(?=[\w\[])")
# Environment variables whose values are secrets; the config adds its proxy_env.
_WATCHED: list[str] = ["LIQMAP_PROXY"]


def watch_env(name: str) -> None:
    """Treat the value of environment variable ``name`` as a secret from now on."""
    if name and name not in _WATCHED:
        _WATCHED.append(name)


def watched_secrets() -> list[str]:
    """The current values of every watched environment variable (set ones only)."""
    return [v for v in (os.environ.get(n) for n in _WATCHED) if v]


def mask_known(text: str) -> str:
    """:func:`mask_secrets` with the values of every watched environment variable."""
    return mask_secrets(text, watched_secrets())


def mask_url(url: str | None) -> str:
    """``scheme://user:pass@host:port/path?q`` -> ``scheme://***@host:port`` (no path or query).

    The host stays visible so a log still says which proxy was used; user, password, path
    and query (where tokens also hide) are dropped. Garbage yields ``***``.
    """
    if not url:
        return ""
    url = url.strip()
    if "://" not in url and "@" in url:
        url = "//" + url  # no scheme: still find the host, and mask the user part
    try:
        parts = urlsplit(url)
        host = parts.hostname
        port = parts.port
    except ValueError:
        return MASK
    if not host or (not parts.scheme and not url.startswith("//")):
        return MASK
    netloc = host if port is None else f"{host}:{port}"
    if parts.username is not None or parts.password is not None:
        netloc = f"{MASK}@{netloc}"
    return f"{parts.scheme}://{netloc}" if parts.scheme else netloc


def mask_secrets(text: str, secrets: Iterable[str | None] = ()) -> str:
    """Replace every given secret (and any ``user:pass@`` in URLs) in ``text`` with ``***``."""
    for secret in sorted((s for s in secrets if s and len(s) >= 4), key=len, reverse=True):
        text = text.replace(secret, mask_url(secret) if "@" in secret else MASK)
    text = _URL_IN_TEXT.sub(lambda m: f"{m.group(1)}{MASK}@", text)
    return _BARE_CREDENTIALS.sub(f"{MASK}@", text)


class SecretFilter(logging.Filter):
    """Logging filter that scrubs secrets from messages; values are read from env vars
    (``env_vars`` plus every variable registered with :func:`watch_env`, at each record)."""

    def __init__(self, env_vars: Iterable[str] = ()) -> None:
        super().__init__()
        self.env_vars = tuple(env_vars)

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = [os.environ.get(v) for v in self.env_vars] + watched_secrets()
        message = record.getMessage()
        clean = mask_secrets(message, secrets)
        if clean != message:
            record.msg, record.args = clean, None
        return True


def install_secret_filter(env_vars: Iterable[str] = ()) -> SecretFilter:
    """Attach a :class:`SecretFilter` to every handler of the root logger; returns it."""
    f = SecretFilter(env_vars)
    for handler in logging.getLogger().handlers:
        handler.addFilter(f)
    return f
