"""`recommender serve`: a real uvicorn server on 127.0.0.1, bounded in time."""
from __future__ import annotations

import socket
import time

import httpx
import pytest
from live_server import ServerProcess

from recommender.artifacts import load_model_directory
from recommender.cli import main
from serving.routes.admin import ADMIN_KEY_ENV


def child_pids(pid: int) -> list[int]:
    text = open(f"/proc/{pid}/task/{pid}/children").read()
    return [int(child) for child in text.split()]


@pytest.mark.slow  # live servers in subprocesses
@pytest.mark.parametrize("workers", [1, 2])
def test_serve_answers_over_http(small_model, workers):
    server = ServerProcess(small_model, workers).start()
    base = server.url
    try:
        engine, manifest = load_model_directory(small_model)
        buyer = engine.users.ids[0]
        for _ in range(4):  # fresh connections, spread over the workers
            answer = httpx.get(f"{base}/v1/users/{buyer}/recommendations", params={"k": 5}, timeout=10)
            assert answer.status_code == 200
            body = answer.json()
            assert body["personalized"] is True and len(body["items"]) == 5
        assert httpx.get(f"{base}/v1/model", timeout=10).json()["model_version"] == manifest["model_version"]
        assert httpx.get(f"{base}/v1/users/{buyer}/recommendations", params={"k": 0}, timeout=10).status_code == 422
        if workers > 1:  # one server process each, besides multiprocessing's resource tracker
            processes = [pid for pid in child_pids(server.process.pid)
                         if "spawn_main" in open(f"/proc/{pid}/cmdline").read()]
            assert len(processes) == workers
        server.process.terminate()  # SIGTERM to the supervisor alone, as a process manager sends it
        server.process.wait(timeout=30)
    finally:
        server.stop()
    output = server.log_text()
    assert server.process.returncode == 0, output
    assert output.strip().splitlines()[-1] == "stopped", output  # drained and stopped, in one line


@pytest.mark.slow  # live servers in subprocesses
def test_admin_reload_reaches_every_worker(small_model, second_model, versions, monkeypatch):
    monkeypatch.setenv(ADMIN_KEY_ENV, "key")  # inherited by the server
    with ServerProcess(small_model, 2) as server:
        base = server.url
        answer = httpx.post(f"{base}/v1/admin/reload", json={"model_dir": str(second_model)},
                            headers={"X-API-Key": "key"}, timeout=60)
        assert answer.status_code == 200, answer.text
        deadline = time.monotonic() + 60
        while True:  # 20 fresh connections in a row (spread over both workers) must see the new model
            seen = {httpx.get(f"{base}/v1/model", timeout=10).json()["model_version"] for _ in range(20)}
            if seen == {versions[1]}:
                break
            assert time.monotonic() < deadline, f"workers still serve {seen}"
            time.sleep(0.5)


def test_serve_refuses_a_port_in_use(small_model, capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        assert main(["serve", "--model", str(small_model), "--port", str(taken.getsockname()[1])]) == 2
    assert "cannot listen on 127.0.0.1" in capsys.readouterr().err


def test_serve_refuses_a_broken_model_directory_before_starting(tmp_path, capsys):
    assert main(["serve", "--model", str(tmp_path / "missing")]) == 2
    assert "not a model directory" in capsys.readouterr().err


@pytest.mark.parametrize("port", ["-1", "http"])
def test_serve_rejects_a_bad_port(small_model, port):
    with pytest.raises(SystemExit):
        main(["serve", "--model", str(small_model), "--port", port])
