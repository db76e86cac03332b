"""Group commit of the input log for the requests answered on the event loop.

A request's rows must be durable before it is answered. Written one transaction per
request, that write is about a quarter of a one-row prediction's CPU
(docs/benchmarks.md); most of it is the transaction, not the rows. So the requests that
one turn of the event loop answers share one transaction:

- :func:`collecting` (around a request's handler, ``serving.api.run_route``) opens a list
  of pending writes for that request;
- :meth:`LogWriter.append` made while a list is open, on the event loop's thread, queues
  the rows and schedules one flush for the whole turn (``loop.call_soon``);
- the request then awaits its writes (:func:`collecting`'s exit) and is answered only once
  the flush has committed them. If the commit fails every request of the group gets the
  error (a 503) and none is answered, as before.

Anywhere else (the thread pool, the v2 routes, a script) :meth:`LogWriter.append` writes
at once, one transaction per request.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from trainsmart.state import InputLog
from trainsmart.state.inputlog import Entry

_pending: contextvars.ContextVar[list[asyncio.Future[None]] | None] = contextvars.ContextVar(
    "trainsmart_pending_log_writes", default=None
)


@asynccontextmanager
async def collecting() -> AsyncIterator[None]:
    """Collect the log writes made inside, then wait until all are committed."""
    writes: list[asyncio.Future[None]] = []
    token = _pending.set(writes)
    try:
        yield
        for write in writes:
            await write
    finally:
        _pending.reset(token)
        for write in writes:  # after an error above, nobody awaits the flush's outcome
            write.add_done_callback(_retrieve)


Queued = tuple[Entry, "asyncio.Future[None]", "Callable[[], None] | None"]
"""A write waiting for its loop's flush: the rows, the request's future, what follows."""


class LogWriter:
    """:meth:`append` as ``InputLog.append``, grouped on the event loop (see the module)."""

    def __init__(self, log: InputLog) -> None:
        self.log = log
        self._queued: dict[asyncio.AbstractEventLoop, list[Queued]] = {}

    def append(
        self,
        request_id: str,
        model: str,
        version: str,
        rows: Sequence[dict[str, Any]],
        predictions: Sequence[dict[str, Any]],
        cache_hits: Sequence[bool],
        after: Callable[[], None] | None = None,
    ) -> None:
        """Log one request's rows; ``after`` runs once they are committed (what must not
        happen for rows that were not logged: the shadow mirror, the prediction count)."""
        entry = Entry(request_id, model, version, rows, predictions, cache_hits)
        writes = _pending.get()
        loop = _running_loop()
        if writes is None or loop is None:
            self.log.append_many([entry])
            if after is not None:
                after()
            return
        write: asyncio.Future[None] = loop.create_future()
        queued = self._queued.setdefault(loop, [])
        if not queued:
            loop.call_soon(self._flush, loop)
        queued.append((entry, write, after))
        writes.append(write)

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        queued = self._queued.pop(loop, [])
        try:
            self.log.append_many([entry for entry, _, _ in queued])
        except Exception as exc:
            for _, write, _ in queued:
                if not write.done():  # a request whose client left was cancelled
                    write.set_exception(exc)
            return
        for _, write, after in queued:
            try:
                if after is not None:
                    after()
            except Exception as exc:
                if not write.done():
                    write.set_exception(exc)
                continue
            if not write.done():
                write.set_result(None)


def _retrieve(write: asyncio.Future[None]) -> None:
    """Mark a write's outcome as seen (no "exception was never retrieved" in the log)."""
    if not write.cancelled():
        write.exception()


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:  # a thread of the pool, or no loop at all
        return None
