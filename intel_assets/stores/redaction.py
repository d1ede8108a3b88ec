"""Owns password masking for everything that prints or logs a connection string or an error
that may quote one: ``redact_dsn`` (one DSN or URL) and ``redact_text`` (any message)."""

from __future__ import annotations

import re

_USERINFO = re.compile(r"//([^:/@\s]+):[^@\s]*@")
_PASSWORD_PARAM = re.compile(r"(password=)[^&\s]*", re.IGNORECASE)


def redact_dsn(dsn: str) -> str:
    """The DSN with any password replaced by ***, safe for messages and logs: the userinfo's
    (``postgresql://u:secret@h``, ``http://u:secret@h``) and a ``password=`` parameter's (URL
    query or libpq keyword form)."""
    scheme, sep, rest = dsn.partition("://")
    userinfo, at, host = rest.rpartition("@")
    if sep and at and ":" in userinfo:
        rest = f"{userinfo.split(':', 1)[0]}:***@{host}"
    return _PASSWORD_PARAM.sub(r"\1***", scheme + sep + rest)


def redact_text(text: str) -> str:
    """A message with every ``//user:password@`` and ``password=...`` in it masked (a driver's
    error may quote the URL it was given)."""
    return _PASSWORD_PARAM.sub(r"\1***", _USERINFO.sub(r"//\1:***@", text))


__all__ = ["redact_dsn", "redact_text"]
