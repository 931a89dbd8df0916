"""`recommender serve`: a real uvicorn server on 127.0.0.1, bounded in time."""
from __future__ import annotations

import socket
import subprocess
import sys
import time

import httpx
import pytest

from recommender.artifacts import load_model_directory
from training.cli import main

STARTUP_SECONDS = 60


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_serve_answers_over_http(small_model):
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "training.cli", "serve", "--model", str(small_model),
                               "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None, server.stdout.read()
            assert time.monotonic() < deadline, "server did not become ready in time"
            time.sleep(0.2)
        engine, manifest = load_model_directory(small_model)
        buyer = engine.users.ids[0]
        answer = httpx.get(f"{base}/v1/users/{buyer}/recommendations", params={"k": 5}, timeout=10)
        assert answer.status_code == 200
        body = answer.json()
        assert body["personalized"] is True and len(body["items"]) == 5
        assert httpx.get(f"{base}/v1/model", timeout=10).json()["model_version"] == manifest["model_version"]
        assert httpx.get(f"{base}/v1/users/{buyer}/recommendations", params={"k": 0}, timeout=10).status_code == 422
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_serve_refuses_a_broken_model_directory_before_starting(tmp_path, capsys):
    assert main(["serve", "--model", str(tmp_path / "missing")]) == 2
    assert "not a model directory" in capsys.readouterr().err


@pytest.mark.parametrize("port", ["-1", "http"])
def test_serve_rejects_a_bad_port(small_model, port):
    with pytest.raises(SystemExit):
        main(["serve", "--model", str(small_model), "--port", port])
