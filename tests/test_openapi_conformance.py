"""The published OpenAPI is what the server does: schemathesis against a live `recommender serve`.

Every phase (examples, coverage, fuzzing, stateful), a fixed seed, and the four checks of the
contract: no 5xx, every answer's body matches its documented schema, every status is documented
for its route, every content type is the documented one. The run sends the admin key (which is
also the server's ingest key here: schemathesis sends one ``X-API-Key``) and merchant M1's bearer
token, and asks for M1's forecast, so the authenticated routes are exercised past their 401s and
403s, down to their answers (the coverage phase also sends requests without credentials).
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from live_server import ServerProcess

from recommender.merchant_tokens import issue_token
from serving.routes.admin import ADMIN_KEY_ENV
from serving.routes.events import INGEST_KEYS_ENV
from serving.settings import env_name

pytestmark = pytest.mark.slow  # schemathesis, about 1,100 requests to a live server

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
CHECKS = "not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance"
PHASES = "examples,coverage,fuzzing,stateful"
SEED = 20261130
MAX_EXAMPLES = 60  # per operation and phase: about 1,100 cases in all
MIN_CASES = 1_000
RUN_SECONDS = 420
ADMIN_KEY = "conformance-admin-key"


@pytest.fixture(scope="module")
def live_server(small_model, published_forecasts, tmp_path_factory):
    """A 1-worker server with a model, published forecasts, a token of merchant M1 and an event store."""
    work = tmp_path_factory.mktemp("conformance")
    token = issue_token(work / "tokens.json", "M1")
    with ServerProcess(small_model, 1, "--forecasts", str(published_forecasts),
                       "--merchant-tokens", str(work / "tokens.json"), "--store", f"sqlite:///{work / 'events.db'}",
                       env={ADMIN_KEY_ENV: ADMIN_KEY, INGEST_KEYS_ENV: ADMIN_KEY,
                            env_name("admin_rate"): "100000/minute"}) as server:  # the reload route itself
        yield server.url, token


def test_every_generated_request_gets_a_documented_answer(live_server, tmp_path):
    url, token = live_server
    (tmp_path / "schemathesis.toml").write_text('[parameters]\n"path.merchant_id" = "M1"\n', encoding="utf-8")
    run = subprocess.run(
        [str(SCHEMATHESIS), "run", f"{url}/openapi.json", "--checks", CHECKS, "--phases", PHASES,
         "--seed", str(SEED), "--max-examples", str(MAX_EXAMPLES), "--generation-database", "none",
         "--request-timeout", "30", "--header", f"X-API-Key: {ADMIN_KEY}", "--header", f"Authorization: Bearer {token}",
         "--no-color"],
        capture_output=True, text=True, timeout=RUN_SECONDS, cwd=tmp_path, check=False)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-6000:]
    generated = re.search(r"(\d+) generated", output)
    assert generated is not None, output[-2000:]
    assert int(generated.group(1)) >= MIN_CASES, output[-2000:]
