"""`recommender serve` stopped by SIGTERM under load: every request it accepted is answered."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest
from live_server import HOST, ServerProcess, free_port

from recommender.artifacts import load_model_directory

pytestmark = pytest.mark.slow  # live servers in subprocesses, stopped by signals

CLIENTS = 16  # threads, each with its own keep-alive connection, sending requests back to back
LOAD_SECONDS_BEFORE_STOP = 1.0
STOP_SECONDS = 20  # the server must have exited this long after SIGTERM
RANK_CANDIDATES = 2000  # a heavier request: validation and scoring of 2,000 ids


def as_from_a_terminal() -> None:
    """In the child, before it runs: SIGINT handled by default and not blocked, as a shell starts a
    foreground job (this test process may have inherited another disposition or mask)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def serve_command(model_dir, port: int, workers: int, store: Path) -> list[str]:
    """`recommender serve` on ``HOST:port`` with its own event store (no other test's file)."""
    return ServerProcess(model_dir, workers, *store_option(store), port=port).command()


def store_option(store: Path) -> tuple[str, str]:
    return "--store", f"sqlite:///{store}"


def terminal_server(model_dir, workers: int, log_path: Path, port: int | None = None) -> ServerProcess:
    """A started server with its own event store, signals disposed of as a terminal's foreground job."""
    return ServerProcess(model_dir, workers, *store_option(log_path.with_suffix(".sqlite3")), log_path=log_path,
                         port=port, preexec_fn=as_from_a_terminal).start()


def stop_group(server: subprocess.Popen) -> None:
    """Kill what is left of the server's process group (nothing, when it stopped by itself)."""
    try:
        os.killpg(server.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    server.wait(timeout=10)


def refused(exc: BaseException) -> bool:
    """Whether an httpx error is a refused TCP connection (nobody listening any more)."""
    while exc is not None:
        if isinstance(exc, ConnectionRefusedError):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


class Load:
    """CLIENTS threads sending recommendation requests (a filter: computed per request) and /v1/rank
    requests, each recording (start, end, outcome): "ok" for a complete 200 answer, "refused" for
    a refused connection (allowed once the server is stopping), anything else is a failure."""

    def __init__(self, port: int, buyers: list[str], items: list[str]):
        self.base, self.buyers, self.items = f"http://{HOST}:{port}", buyers, items
        self.records: list[tuple[float, float, str]] = []
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self.client, args=(i,), daemon=True) for i in range(CLIENTS)]

    def client(self, index: int) -> None:
        with httpx.Client(base_url=self.base, timeout=10) as client:
            sent = 0
            while not self.stopping.is_set():
                buyer = self.buyers[(index * 31 + sent) % len(self.buyers)]
                start = time.monotonic()
                try:
                    if sent % 2:
                        answer = client.post("/v1/rank", json={"user_id": buyer, "item_ids": self.candidates(sent)})
                        complete = answer.status_code == 200 and self.ranks_every_item(answer.json())
                    else:
                        answer = client.get(f"/v1/users/{buyer}/recommendations",
                                            params={"k": 100, "max_price": 1e6, "niche": 0.3})
                        complete = answer.status_code == 200 and answer.json()["user_id"] == buyer
                    outcome = "ok" if complete else f"status {answer.status_code}: {answer.text[:200]}"
                except httpx.TransportError as exc:
                    outcome = "refused" if refused(exc) else repr(exc)
                except json.JSONDecodeError as exc:
                    outcome = f"incomplete body: {exc}"
                self.records.append((start, time.monotonic(), outcome))
                sent += 1
                if outcome == "refused":
                    time.sleep(0.01)

    def ranks_every_item(self, body: dict) -> bool:
        """Whether a /v1/rank answer accounts for every catalog item (ranked or unavailable)."""
        return len(body["items"]) + len(body["unavailable_item_ids"]) == len(self.items)

    def candidates(self, sent: int) -> list[str]:
        """The catalog's ids, repeated up to RANK_CANDIDATES ids (duplicates are ranked once)."""
        return [self.items[(sent + j) % len(self.items)] for j in range(RANK_CANDIDATES)]

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=15)
        assert not any(thread.is_alive() for thread in self.threads), "load threads did not stop"


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_under_load_answers_every_accepted_request(small_model, workers, tmp_path):
    engine, _ = load_model_directory(small_model)
    buyers, items = [str(b) for b in engine.users.ids[:200]], [str(i) for i in engine.items.ids]
    server = terminal_server(small_model, workers, tmp_path / "server.log")
    try:
        with Load(server.port, buyers, items) as load:
            time.sleep(LOAD_SECONDS_BEFORE_STOP)
            signalled = time.monotonic()
            server.process.send_signal(signal.SIGTERM)  # the supervisor (or the only worker), as a process manager does
            status = server.process.wait(timeout=STOP_SECONDS)
            stopped = time.monotonic()
            time.sleep(0.2)  # the clients see the port closed
    finally:
        server.stop()

    records = load.records
    failures = [(round(start - signalled, 3), outcome) for start, _, outcome in records
                if outcome != "ok" and not (outcome == "refused" and start > signalled)]
    assert failures == [], f"{len(failures)} accepted requests failed (seconds after SIGTERM, outcome): {failures[:10]}"
    assert status == 0, server.log_text()
    in_flight = sum(start < signalled < end and outcome == "ok" for start, end, outcome in records)
    assert in_flight >= CLIENTS // 2, f"only {in_flight} requests were in flight at SIGTERM"
    assert sum(start < signalled and outcome == "ok" for start, _, outcome in records) >= CLIENTS
    assert any(start > stopped and outcome == "refused" for start, _, outcome in records)  # the port was closed

    # the port is free again: the new server's start checks it with a plain bind, so one worker shows it
    restarted = terminal_server(small_model, 1, tmp_path / "restarted.log", port=server.port)
    try:
        answer = httpx.get(f"{restarted.url}/v1/users/{buyers[0]}/recommendations", params={"k": 5}, timeout=10)
        assert answer.status_code == 200 and len(answer.json()["items"]) == 5
        restarted.process.send_signal(signal.SIGTERM)
        assert restarted.process.wait(timeout=STOP_SECONDS) == 0
    finally:
        restarted.stop()


@pytest.mark.parametrize("workers", [1, 2])
def test_ctrl_c_stops_the_server_with_one_line_and_no_traceback(small_model, tmp_path, workers):
    """Ctrl-C in a terminal signals the whole process group: the parent and every worker. Whether
    it comes while the model loads or once the server answers, the server stops with one line."""
    loading = subprocess.Popen(serve_command(small_model, free_port(), workers, tmp_path / "loading.sqlite3"),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
                               preexec_fn=as_from_a_terminal)
    time.sleep(1.0)  # starting: importing, or loading the model
    os.killpg(loading.pid, signal.SIGINT)
    try:
        output = loading.communicate(timeout=STOP_SECONDS)[0]
    except subprocess.TimeoutExpired:
        stop_group(loading)
        pytest.fail(f"still running {STOP_SECONDS} s after Ctrl-C: {loading.communicate()[0]}")
    assert "Traceback" not in output and output.strip().splitlines()[-1] in ("interrupted", "stopped"), output

    serving = terminal_server(small_model, workers, tmp_path / "serve.log")
    assert_stops_with_one_line(serving, lambda: serving.signal_group(signal.SIGINT))


def test_a_sigterm_then_ctrl_c_still_stops_with_one_line(small_model, tmp_path):
    """A worker that gets the supervisor's SIGTERM before its own Ctrl-C (or a stop asked twice)
    still drains and stops with one line: a second signal does not skip the app's shutdown."""
    serving = terminal_server(small_model, 2, tmp_path / "serve.log")

    def sigterm_then_ctrl_c() -> None:
        for worker in serving.pids():
            os.kill(worker, signal.SIGTERM)
        time.sleep(0.05)
        serving.signal_group(signal.SIGINT)

    assert_stops_with_one_line(serving, sigterm_then_ctrl_c)


def assert_stops_with_one_line(serving: ServerProcess, send_stop) -> None:
    """After ``send_stop()``, the server exits with status 0 and its log gains one line: ``stopped``."""
    before = len(serving.log_text())
    send_stop()
    try:
        assert serving.process.wait(timeout=STOP_SECONDS) == 0
    finally:
        serving.stop()
    after = serving.log_text()[before:].strip().splitlines()
    assert after == ["stopped"], after
