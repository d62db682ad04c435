"""Pure ASGI middleware (cheaper than BaseHTTPMiddleware on the hot scoring path): request ids, body size
limit, the last-resort error answer, and one structured JSON log line per request.

The last resort: an exception no handler mapped used to reach Starlette's ServerErrorMiddleware, outside
this one, so the 500 left without a request id, without an access-log line, with a second (plain-text)
traceback from uvicorn, and closed the keep-alive connection. Caught here, it becomes a problem-details 500
that carries the request id, is logged once as JSON (traceback in the ``exc`` field), and leaves the
connection open."""

from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Any, ClassVar

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from salesplan.serving.db.records import printable

REQUEST_ID_HEADER = "x-request-id"
log = logging.getLogger("salesplan.access")
error_log = logging.getLogger("salesplan.serving")


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line; extra fields passed with ``extra={...}`` are included."""

    RESERVED: ClassVar[frozenset[str]] = frozenset(logging.makeLogRecord({}).__dict__)

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        out.update(
            {k: v for k, v in record.__dict__.items() if k not in self.RESERVED and not k.startswith("_")}
        )
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def configure_logging(level: int = logging.INFO) -> None:
    root = logging.getLogger("salesplan")
    if not any(isinstance(h.formatter, JsonLogFormatter) for h in root.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(JsonLogFormatter())
        root.addHandler(handler)
    root.setLevel(level)
    root.propagate = False


class BodyTooLarge(HTTPException):
    """Raised inside ``receive`` when a streamed (chunked) body passes the limit. An HTTPException, so that
    FastAPI, which turns other errors met while reading a body into 400, passes it on as the 413 it is."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body exceeds {limit} bytes; send smaller batches")


class RequestContextMiddleware:
    """Gives every request an id (kept from ``X-Request-ID`` if the client sent a sane one), returns it as a
    header, refuses bodies over ``max_body_bytes`` with 413 problem details, answers any unhandled error
    with a 500 problem, and logs the request with the key that made it."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        given = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = given if 0 < len(given) <= 128 and given.isprintable() else uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        rid = request_id.encode("latin-1")
        start = time.perf_counter()
        status_holder = {"status": 500, "started": False}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                status_holder["started"] = True
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid)]
            await send(message)

        length = headers.get(b"content-length")
        extra: dict[str, Any] = {}
        try:
            if length is not None and length.isdigit() and int(length) > self.max_body_bytes:
                await self._problem(
                    scope, send_wrapper, request_id, 413, "Request too large", self._too_large
                )
            else:
                await self.app(scope, self._limited(receive), send_wrapper)
        except BodyTooLarge:  # read by something other than FastAPI's body parsing
            if not status_holder["started"]:
                await self._problem(
                    scope, send_wrapper, request_id, 413, "Request too large", self._too_large
                )
        except Exception as exc:
            extra["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"
            error_log.error(
                "unhandled error",
                exc_info=exc,
                extra={"request_id": request_id, "method": scope.get("method"), "path": scope.get("path")},
            )
            if status_holder["started"]:
                raise  # half a response went out: only closing the connection can tell the client
            await self._problem(
                scope,
                send_wrapper,
                request_id,
                500,
                "Internal server error",
                "an unexpected error happened; quote the request id when reporting it",
            )
        finally:
            key = state.get("key")
            if key is not None:  # which key acted (never the key itself)
                extra.update(
                    key_id=key.id, key_prefix=key.key_prefix, key_name=printable(key.name), role=key.role
                )
            log.info(
                "request",
                extra={
                    "request_id": request_id,
                    "method": scope.get("method"),
                    "path": scope.get("path"),
                    "status": status_holder["status"],
                    "ms": round((time.perf_counter() - start) * 1000, 2),
                    **extra,
                },
            )

    def _limited(self, receive: Receive) -> Receive:
        received = 0

        async def receive_limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise BodyTooLarge(self.max_body_bytes)
            return message

        return receive_limited

    @property
    def _too_large(self) -> str:
        return f"request body exceeds {self.max_body_bytes} bytes; send smaller batches"

    @staticmethod
    async def _problem(
        scope: Scope, send: Send, request_id: str, status: int, title: str, detail: str
    ) -> None:
        body = json.dumps(
            {
                "type": "about:blank",
                "title": title,
                "status": status,
                "detail": detail,
                "instance": scope.get("path"),
                "request_id": request_id,
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/problem+json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
