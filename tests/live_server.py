"""Starting a real `recommender serve` for tests: on 127.0.0.1, a free port, bounded waits."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx
import pytest

STARTUP_SECONDS = 60


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(model_dir, port: int, workers: int = 1, *options: str, env: dict | None = None,
                 own_group: bool = False) -> subprocess.Popen:
    """`recommender serve` (with ``options``, environment ``env`` added) in a subprocess, returned
    once /readyz answers 200 (bounded wait). With ``own_group`` the server and its workers are a
    process group of their own (``os.killpg(server.pid, ...)`` reaches all of them)."""
    server = subprocess.Popen([sys.executable, "-m", "training.cli", "serve", "--model", str(model_dir),
                               "--port", str(port), "--workers", str(workers), *options],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              env={**os.environ, **(env or {})}, start_new_session=own_group)
    deadline = time.monotonic() + STARTUP_SECONDS
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            pytest.fail(f"server did not become ready: {server.communicate()[0]}")
        time.sleep(0.2)
