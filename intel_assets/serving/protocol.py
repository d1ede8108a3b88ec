"""Owns the serving API's HTTP protocol limit: a request head (request line + headers) larger
than MAX_HEAD_BYTES is answered 431 in the API's error shape and the connection closed, before
the rest is read (uvicorn's parsers accept heads of any size; a 100 MB header stalled other
clients for seconds).

The subclass of uvicorn's httptools protocol only counts the bytes received while a request's
head is incomplete; parsing stays uvicorn's.
"""

from __future__ import annotations

import json

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MAX_HEAD_BYTES = 16 * 1024  # as Node.js and most proxies; our longest real request is < 300 B


class BoundedHeadProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a cap on the request head."""

    max_head_bytes = MAX_HEAD_BYTES

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._in_head, self._head_bytes = True, 0

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            self._head_bytes += len(data)
            if self._head_bytes > self.max_head_bytes:
                self._refuse_large_head()
                return
        super().data_received(data)

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head, self._head_bytes = True, 0

    def _refuse_large_head(self) -> None:
        body = json.dumps({"ok": False, "error": "headers_too_large", "message": (
            f"the request line and headers exceed {self.max_head_bytes} bytes; send a shorter "
            "request")}).encode("ascii")
        self.transport.write(b"".join([
            b"HTTP/1.1 431 Request Header Fields Too Large\r\n",
            b"content-type: application/json\r\n",
            b"content-length: " + str(len(body)).encode("ascii") + b"\r\n",
            b"connection: close\r\n\r\n", body]))
        self.transport.close()


__all__ = ["BoundedHeadProtocol", "MAX_HEAD_BYTES"]
