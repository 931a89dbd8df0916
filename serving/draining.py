"""The drained stop: SIGTERM (or SIGINT) answers every connection the kernel has accepted.

uvicorn's own shutdown loses requests under load (measured: 4-50 connection resets per restart at
32 concurrent clients): closing the listening socket resets the connections still queued on it,
and it closes every connection without a request in progress at once, also those whose request has
arrived but not been read yet, and idle keep-alive connections a client is sending its next request
on. uvicorn's public options only bound the waits (``timeout_graceful_shutdown``,
``timeout_keep_alive``); none changes that order, so :class:`DrainingServer` overrides
``uvicorn.Server.shutdown`` and ``capture_signals`` and reads ``server_state``, ``servers`` and
``lifespan``. pyproject.toml pins uvicorn to one minor version for that reason, and
``tests/test_draining.py`` fails when those internals move.

A draining worker first accepts what is queued, then closes its socket (new connections are
refused from then on), answers every request on its connections with ``Connection: close``, and
lets idle keep-alive connections end at their keep-alive timeout, as they would while serving; only
then does uvicorn's shutdown run (bounded waits throughout). A stop that drained exits 0, with one
worker as with several (uvicorn would re-raise the signal).
"""
from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

import uvicorn

SignalHandler = Callable[[int, FrameType | None], Any] | int | None  # what signal.signal takes and returns


class DrainingServer(uvicorn.Server):
    """A uvicorn server whose SIGTERM/SIGINT stop answers every connection already accepted (see the
    module's docstring); the rest of the stop is uvicorn's."""

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        loop = asyncio.get_running_loop()
        # every response from now on closes its connection (uvicorn adds these headers to each one)
        self.server_state.default_headers = [*self.server_state.default_headers, (b"connection", b"close")]
        queued = _accept_queued(sockets or [])
        for server in self.servers:  # no await since the last accept: nothing new is queued meanwhile
            server.close()
        for connection in queued:
            await loop.connect_accepted_socket(self._new_protocol, connection)
        # idle keep-alive connections close at their keep-alive timeout, busy ones after their response
        deadline = loop.time() + self.config.timeout_keep_alive + 1
        while self.server_state.connections and loop.time() < deadline:
            await asyncio.sleep(0.05)
        await super().shutdown(sockets)  # what is left: requests still running, connections never used

    def _new_protocol(self) -> asyncio.Protocol:
        # uvicorn types the class as asyncio.Protocol's; its HTTP protocols take these arguments
        protocol: Callable[..., asyncio.Protocol] = self.config.http_protocol_class
        return protocol(config=self.config, server_state=self.server_state, app_state=self.lifespan.state)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """SIGINT and SIGTERM stop the server, drained. Unlike uvicorn's own handling, the signal is
        not raised again after the stop (exit status 0), and a second one does not force the stop:
        that skips the app's shutdown, whose cancellation is then logged as a traceback (measured:
        a supervisor's SIGTERM overtaking the worker's own Ctrl-C did it). The stop stays bounded
        (the keep-alive and graceful-shutdown timeouts, then the supervisor's kill)."""

        previous = self.stop_on_signals()
        try:
            yield
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def stop_on_signals(self) -> dict[signal.Signals, SignalHandler]:
        """From now on SIGINT and SIGTERM stop the server (drained); returns the previous handlers.
        Called before :meth:`run` too: a signal between loading the app and serving must stop it,
        where Python's default would only have asyncio's runner cancel its task, which uvicorn's
        startup can outlive (measured: Ctrl-C 1.55 s after start left a server running)."""
        return {signum: signal.signal(signum, self._stop) for signum in (signal.SIGINT, signal.SIGTERM)}

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        self.should_exit = True


def _accept_queued(sockets: list[socket.socket]) -> list[socket.socket]:
    """The connections the kernel has accepted on ``sockets`` (non-blocking) that the server has not."""
    accepted = []
    for sock in sockets:
        while True:
            try:
                connection = sock.accept()[0]
            except (BlockingIOError, InterruptedError):
                break
            connection.setblocking(False)
            accepted.append(connection)
    return accepted
