"""Running the API: one uvicorn server per process, all listening on the same port.

``uvicorn --workers N`` shares one listening socket between its workers, and on Linux one busy
worker then tends to accept most connections while the others idle (measured on 2 cores: two
workers served /healthz slower than one). Here every worker process opens its *own* socket on
the same address with ``SO_REUSEPORT``, so the kernel spreads new connections evenly across
them, and with ``TCP_NODELAY`` (inherited by accepted connections), so small responses are not
held back by Nagle's algorithm. ``SO_REUSEPORT`` would also let a second server share a port an
old one still holds, so the parent first checks that the port is free with a plain bind.

The parent process only supervises: it starts the workers, forwards SIGINT/SIGTERM to them, and
if one dies, stops the others and exits with an error. It also gives the workers a shared
announcement file, so that an admin reload received by one reaches all (:mod:`serving.reload_sync`).

SIGTERM (or SIGINT) drains a worker: every connection the kernel has accepted is answered, and a
stop that drained exits 0 (:mod:`serving.draining`).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import logging
import multiprocessing
import signal
import socket
import tempfile
from functools import partial
from pathlib import Path
from types import FrameType

import uvicorn

from recommender.logs import configure_logging
from recommender.signals import interrupt_on_sigterm
from serving.app import create_app
from serving.draining import DrainingServer
from serving.settings import ServingSettings

log = logging.getLogger(__name__)

BACKLOG = 2048
STOP_SECONDS = 20.0


def bound_socket(host: str, port: int, reuse_port: bool = True) -> socket.socket:
    """A TCP socket bound to ``host:port``, not listening yet, with ``TCP_NODELAY`` (and
    ``SO_REUSEPORT`` when ``reuse_port``)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


class AddressUnavailable(ValueError):
    """The address to serve on is taken or cannot be bound."""


def check_port_free(host: str, port: int) -> None:
    """Raise :class:`AddressUnavailable` naming the address when it cannot be listened on
    (e.g. another server holds it)."""
    try:
        with bound_socket(host, port, reuse_port=False) as sock:
            sock.listen()
    except OSError as exc:
        raise AddressUnavailable(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


M_MMAP_THRESHOLD, M_ARENA_MAX = -3, -8  # glibc's mallopt parameters
MMAP_THRESHOLD_BYTES = 128 << 10  # glibc's initial value, which it otherwise raises after large frees
MALLOC_ARENAS = 2


def bound_allocator() -> None:
    """Keep a worker's memory flat across model reloads (glibc only; elsewhere nothing). After a
    large free glibc raises its threshold for giving big allocations their own mapping, so the
    next model's arrays land on the heap, whose pages stay resident once that model is replaced
    (``bench/soak.py``: +10-15% per worker over 10 minutes of reloads; flat with the threshold
    fixed and two arenas)."""
    libc = ctypes.util.find_library("c")
    mallopt = getattr(ctypes.CDLL(libc), "mallopt", None) if libc else None
    if mallopt is not None:
        mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
        mallopt(M_ARENA_MAX, MALLOC_ARENAS)


def run_worker(settings: ServingSettings, log_level: int | None = None) -> None:
    """One server process: the app of ``settings`` (``create_app``, which loads the model), then
    its own ``SO_REUSEPORT`` socket and a uvicorn server on it; ``log_level``: configure logging
    as the parent's (a spawned worker process starts without it)."""
    if log_level is not None:
        configure_logging(log_level)
    bound_allocator()
    config = uvicorn.Config(partial(create_app, settings), factory=True, access_log=settings.access_log,
                            timeout_graceful_shutdown=10, backlog=BACKLOG)
    logging.getLogger("uvicorn.error").addFilter(_not_a_stop_message)
    interrupt_on_sigterm()
    try:
        config.load()  # the model first: a worker joins the port only once it can answer
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM while loading: nothing to drain
        return
    server = DrainingServer(config)
    server.stop_on_signals()  # a signal from here on stops it, before uvicorn takes the signals over too
    # uvicorn listens on the socket once the app's startup (serving.app.lifespan: the event store
    # replayed) is over: until then the kernel sends new connections to the workers that serve
    server.run(sockets=[bound_socket(settings.host, settings.port)])


UVICORN_STOP_MESSAGES = frozenset({"Shutting down", "Waiting for application shutdown.",
                                   "Application shutdown complete.", "Finished server process [%d]",
                                   "Waiting for connections to close. (CTRL+C to force quit)"})


def _not_a_stop_message(record: logging.LogRecord) -> bool:
    """False for uvicorn's lines about a stop: ``recommender serve`` says it in one."""
    return record.msg not in UVICORN_STOP_MESSAGES


def serve(settings: ServingSettings) -> int:
    """Serve ``settings`` (on its ``host:port``, with its ``workers`` processes) until interrupted;
    returns the exit status.

    Each worker loads the model directory itself. ``access_log`` logs every request (off by
    default: ``/metrics`` counts requests per route and status for a fraction of the cost).
    """
    check_port_free(settings.host, settings.port)
    if settings.workers == 1:
        run_worker(settings)
        return 0
    with tempfile.TemporaryDirectory(prefix="recommender-serve-") as shared:
        return _supervise(settings.model_copy(update={"reload_file": Path(shared) / "model.json"}))


def _supervise(settings: ServingSettings) -> int:
    """Start the settings' worker processes and wait for them (see :func:`serve`)."""
    workers = settings.workers
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=run_worker, args=(settings, logging.getLogger().level), name=f"worker-{i + 1}")
                 for i in range(workers)]
    for process in processes:
        process.start()
    log.info("started %d worker processes: %s", workers, ", ".join(str(p.pid) for p in processes))

    stopping = False

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for process in processes:
            if process.is_alive():
                process.terminate()  # SIGTERM: uvicorn finishes requests in flight, then exits

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    status = 0
    while any(process.is_alive() for process in processes):
        for process in processes:
            process.join(timeout=0.5)
            if process.exitcode not in (None, 0) and not stopping:
                log.error("%s (pid %d) exited with status %s; stopping the others", process.name, process.pid,
                          process.exitcode)
                status = 1
                stop(signal.SIGTERM, None)
    for process in processes:
        process.join(timeout=STOP_SECONDS)
        if process.is_alive():
            process.kill()
    return status
