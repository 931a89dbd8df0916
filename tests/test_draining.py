"""The drained stop (serving/draining.py) on the uvicorn version pinned in pyproject.toml: the
uvicorn internals it overrides and reads are where it expects them, a request in flight and a
connection still queued in the kernel are both answered, and a signal stops without being raised
again."""
from __future__ import annotations

import asyncio
import inspect
import signal
import socket

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from serving.draining import DrainingServer


def test_the_uvicorn_internals_the_drain_overrides_and_reads_are_unchanged():
    assert inspect.iscoroutinefunction(uvicorn.Server.shutdown)
    assert list(inspect.signature(uvicorn.Server.shutdown).parameters) == ["self", "sockets"]
    assert list(inspect.signature(uvicorn.Server.capture_signals).parameters) == ["self"]
    assert "self.capture_signals()" in inspect.getsource(uvicorn.Server.serve)  # the signals go through it
    assert "self.servers" in inspect.getsource(uvicorn.Server.startup)
    assert "self.lifespan = " in inspect.getsource(uvicorn.Server._serve)
    state = ServerState()
    assert isinstance(state.default_headers, list) and isinstance(state.connections, set)
    for protocol in (H11Protocol, HttpToolsProtocol):
        assert {"config", "server_state", "app_state"} <= set(inspect.signature(protocol.__init__).parameters)


async def app(scope, receive, send) -> None:
    """Answers its path after a pause, so a request is still running when the stop begins."""
    body = scope["path"].encode()
    await asyncio.sleep(0.3)
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def request(address: tuple[str, int], path: str) -> socket.socket:
    """A keep-alive HTTP/1.1 request sent on a new blocking connection."""
    client = socket.create_connection(address, timeout=10)
    client.sendall(f"GET {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
    return client


def answer(client: socket.socket) -> str:
    """Everything the server sent until it closed the connection."""
    received = b""
    while chunk := client.recv(65536):
        received += chunk
    client.close()
    return received.decode()


def test_a_drained_stop_answers_the_request_in_flight_and_the_connection_still_queued():
    listener = socket.create_server(("127.0.0.1", 0))
    address = listener.getsockname()
    config = uvicorn.Config(app, lifespan="off", log_level="warning", timeout_keep_alive=1)
    config.load()
    server = DrainingServer(config)

    async def run() -> tuple[socket.socket, socket.socket]:
        server.lifespan = config.lifespan_class(config)
        await server.startup(sockets=[listener])
        in_flight = request(address, "/in-flight")
        while not server.server_state.tasks:  # the server has read that request and runs it
            await asyncio.sleep(0.01)
        queued = request(address, "/queued")  # no await before the stop: the kernel holds this one
        await server.shutdown(sockets=[listener])
        return in_flight, queued

    in_flight, queued = asyncio.run(run())
    answers = {path: answer(client) for client, path in ((in_flight, "/in-flight"), (queued, "/queued"))}
    for path, text in answers.items():
        assert text.startswith("HTTP/1.1 200") and text.endswith(path), text
    assert "connection: close" in answers["/queued"].lower()  # a request read after the stop began
    try:
        socket.create_connection(address, timeout=2).close()
        refused = False
    except ConnectionRefusedError:
        refused = True
    assert refused  # the port was closed


def test_a_signal_stops_the_server_once_and_is_not_raised_again():
    received = []

    def record(signum, frame) -> None:
        received.append(signum)

    previous = {signum: signal.signal(signum, record) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        server = DrainingServer(uvicorn.Config(app))
        with server.capture_signals():
            signal.raise_signal(signal.SIGTERM)
            signal.raise_signal(signal.SIGINT)  # a second signal does not force the stop
        assert server.should_exit and not server.force_exit
        assert received == []  # uvicorn's own capture raises the signals again on leaving
        assert all(signal.getsignal(signum) is record for signum in previous)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
