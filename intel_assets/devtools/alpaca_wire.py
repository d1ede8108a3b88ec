"""Owns what the Alpaca stand-in's news server (alpaca_server.py) and its paper trading
(alpaca_paper.py) share: a request, a response, an Alpaca-shaped error, Alpaca's time parsing and
the server interface routes are installed on. Both import this module and neither imports the
other at import time (alpaca_server imports alpaca_paper only when `lean_dir=` asks for paper
trading), so `python -m intel_assets.devtools.alpaca_server` shares one ApiError with paper trading.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, time, timezone
from typing import Any, Protocol


@dataclass(frozen=True)
class ApiRequest:
    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]  # lower-cased names
    body: bytes = b""

    def param(self, name: str) -> str | None:
        value = self.query.get(name)
        return None if value is None or value == "" else value


@dataclass(frozen=True)
class ApiResponse:
    status: int
    payload: Any = None  # JSON-serializable; ignored when raw is set
    raw: bytes | None = None


class ApiError(Exception):
    """An Alpaca-style error response: {"code": ..., "message": ...}."""

    def __init__(self, status: int, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.code = status, message, code or status * 100_000

    def response(self) -> ApiResponse:
        return ApiResponse(self.status, {"code": self.code, "message": self.message})


Route = Callable[[Any, ApiRequest], ApiResponse]  # (the server, the request) -> the answer


class RouteHost(Protocol):
    """The server routes are added to (alpaca_server.AlpacaServer): its clock and route table."""

    as_of: datetime | None  # the replay clock; None = the real time
    paper_book: Any

    def now(self) -> datetime: ...

    def add_route(self, method: str, path: str, handler: Route) -> None: ...


def parse_time(value: str, name: str) -> datetime:
    """RFC 3339 or YYYY-MM-DD (midnight UTC) as an aware UTC datetime; 400 otherwise."""
    text = value.strip().replace(" ", "+")  # an unencoded '+' in a query string arrives as ' '
    try:
        if len(text) == 10:
            return datetime.combine(datetime.fromisoformat(text).date(), time(), timezone.utc)
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ApiError(400, f"invalid {name}: {value!r} is not RFC-3339 or YYYY-MM-DD") from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)
