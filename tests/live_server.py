"""A real `recommender serve` for tests and benchmarks: on 127.0.0.1, a free port, in its own process
group, logging to a file, with bounded waits; always stopped."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

HOST = "127.0.0.1"  # never anything else
READY_SECONDS = 180.0  # loading the model in every worker, on a shared machine
STOP_SECONDS = 30.0
STARTED = "Application startup complete"  # what each worker logs once it serves


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


class ServerProcess:
    """``recommender serve --model model_dir --workers workers`` (plus ``options``, and ``env`` added to
    the environment) on ``HOST`` and ``port`` (default: a free one), in a process group of its own,
    its output in ``log_path`` (default: a temporary file).

    :meth:`start` (or ``with``) returns once ``/readyz`` answers 200 and every worker has started;
    :meth:`stop` (or leaving the ``with``) sends SIGTERM to the group and kills what is left.
    ``preexec_fn`` runs in the child before ``serve`` starts (e.g. to set signal dispositions)."""

    def __init__(self, model_dir, workers: int = 1, *options: str, log_path: Path | None = None,
                 env: dict[str, str] | None = None, port: int | None = None,
                 preexec_fn: Callable[[], None] | None = None):
        self.model_dir, self.workers, self.options = model_dir, workers, options
        self.env, self.preexec_fn = env or {}, preexec_fn
        self.port = port or free_port()
        self.log_path = Path(log_path) if log_path else None
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "recommender.cli", "serve", "--model", str(self.model_dir), "--host", HOST,
                "--port", str(self.port), "--workers", str(self.workers), *self.options]

    def start(self) -> ServerProcess:
        """Launch the server and wait until every worker serves."""
        self.launch()
        try:
            self.wait_until_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def launch(self) -> ServerProcess:
        """Start the server process without waiting for it."""
        self.log_path = self.log_path or Path(tempfile.mkdtemp(prefix="serve-")) / "server.log"
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT,
                                            env={**os.environ, **self.env}, start_new_session=True,
                                            preexec_fn=self.preexec_fn)
        return self

    __enter__ = start

    def __exit__(self, *exc) -> None:
        self.stop()

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_until_ready(self, every_worker: bool = True) -> None:
        """Return once ``/readyz`` answers 200 and, with ``every_worker``, every worker has logged
        its start."""
        deadline = time.monotonic() + READY_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.log_text()[-3000:]}")
            try:
                ready = httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200
            except httpx.TransportError:
                ready = False
            if ready and (not every_worker or self.log_text().count(STARTED) >= self.workers):
                return
            time.sleep(0.05)
        raise TimeoutError(f"server not ready after {READY_SECONDS:.0f} s:\n{self.log_text()[-3000:]}")

    def pids(self) -> list[int]:
        """The serving processes: the workers (or the single process with one worker)."""
        if self.process is None:
            return []
        children = []
        for task in Path(f"/proc/{self.process.pid}/task").glob("*/children"):
            for pid in task.read_text().split():
                try:  # the workers, not multiprocessing's resource tracker
                    if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                        children.append(int(pid))
                except OSError:
                    pass
        return children if self.workers > 1 and children else [self.process.pid]

    def signal_group(self, signum: int) -> None:
        """Send ``signum`` to the server's process group (the supervisor and its workers)."""
        try:
            os.killpg(self.process.pid, signum)
        except (ProcessLookupError, PermissionError):  # the group is gone
            pass

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.signal_group(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                self.signal_group(signal.SIGKILL)
                self.process.wait(timeout=STOP_SECONDS)
        self.signal_group(signal.SIGKILL)  # stragglers of the group (workers outliving the supervisor)
