# Two entry points: `make demo` runs the main job on the embedded demo marketplace,
# `make test` runs the whole test suite. Both create the virtual environment they need.
# `make test-fast` is the inner loop: the tests not marked slow, browser, postgres or spark.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_DIR ?= demo
PORT ?= 8000
# the demo server's storefront key for POST /v1/events
INGEST_KEY ?= demo-ingest-key
# the demo server's admin key: the operator console and the admin routes (choose your own outside the demo)
ADMIN_KEY ?= demo-admin-key

.PHONY: demo test test-fast lint install lock clean

# Every package comes from a lock file (exact versions, resolved for every Python and platform);
# the project itself is installed on top without resolving anything again. requirements.lock holds
# what the demo runs: the core and the extras DEMO_EXTRAS; requirements-test.lock every extra
# (PostgreSQL's driver and Spark too) and the test tools, at the same versions (docs/dependencies.md).
# uv installs them (measured on a fresh venv, 2 busy cores: pip 135 s, 95 of them silent; uv 9 s).
DEMO_EXTRAS := forecast serve report
UV_VERSION := uv>=0.13,<0.14
UV_INSTALL := $(BIN)/uv pip install --python $(BIN)/python
$(BIN)/recommender: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet '$(UV_VERSION)'
	$(UV_INSTALL) -r requirements.lock
	$(UV_INSTALL) --no-deps -e .
	touch $@

install: $(BIN)/recommender

$(VENV)/.test-packages: $(BIN)/recommender requirements-test.lock
	$(UV_INSTALL) -r requirements-test.lock
	touch $@

# After changing the dependencies in pyproject.toml: resolve everything (every extra) once, then the
# demo's packages at the versions chosen there.
lock: install
	$(BIN)/uv pip compile pyproject.toml --all-extras --universal --python-version 3.11 -o requirements-test.lock
	$(BIN)/uv pip compile pyproject.toml $(DEMO_EXTRAS:%=--extra %) --universal --python-version 3.11 \
		-c requirements-test.lock -o requirements.lock

DATA := --purchases $(DEMO_DIR)/purchases.csv --catalog $(DEMO_DIR)/catalog.csv

demo: install
	$(BIN)/recommender demo-data --out $(DEMO_DIR)
	$(BIN)/recommender validate $(DATA)
	$(BIN)/recommender train $(DATA) --out $(DEMO_DIR)/model
	@# the model's example buyer (the one the storefront preview opens on), then two buyers of the first purchases
	(echo user_id; $(BIN)/python -c "import json; print(json.load(open('$(DEMO_DIR)/model/manifest.json'))['example_buyer'])"; \
		cut -d, -f1 $(DEMO_DIR)/purchases.csv | sed -n '2,9p' | tr -d '"') | awk '!seen[$$0]++' | head -4 > $(DEMO_DIR)/users.csv
	$(BIN)/recommender recommend --model $(DEMO_DIR)/model --users $(DEMO_DIR)/users.csv --k 5 --out $(DEMO_DIR)/recommendations.csv
	@echo "sample recommendations ($(DEMO_DIR)/recommendations.csv):"; cat $(DEMO_DIR)/recommendations.csv
	$(BIN)/recommender forecast-publish $(DATA) --out $(DEMO_DIR)/forecasts
	@echo "serving the demo model; in another terminal try:"
	@echo "  curl 'http://127.0.0.1:$(PORT)/v1/users/$$(sed -n 2p $(DEMO_DIR)/users.csv | tr -d '"')/recommendations?k=5'"
	@merchant=$$($(BIN)/python -c "import json; m = json.load(open('$(DEMO_DIR)/forecasts/manifest.json'))['merchants']; print(next(k for k, v in m.items() if v['items_sold']))"); \
	token=$$($(BIN)/recommender merchant-token --tokens $(DEMO_DIR)/merchant_tokens.json --merchant $$merchant | tail -1); \
	echo "  curl -H 'Authorization: Bearer $$token' 'http://127.0.0.1:$(PORT)/v1/merchants/$$merchant/forecast?horizon=12&by=item'"; \
	echo "or open in a browser (nothing is fetched from the internet):"; \
	echo "  http://127.0.0.1:$(PORT)/ui/                storefront preview"; \
	echo "  http://127.0.0.1:$(PORT)/ui/merchant.html   merchant dashboard (merchant $$merchant, the token above)"; \
	echo "  http://127.0.0.1:$(PORT)/ui/admin.html      operator console (admin key $(ADMIN_KEY))"
	@user=$$(sed -n 2p $(DEMO_DIR)/users.csv | tr -d '"'); item=$$(sed -n 2p $(DEMO_DIR)/catalog.csv | cut -d, -f1 | tr -d '"'); \
	echo "  curl -H 'X-API-Key: $(INGEST_KEY)' -H 'Content-Type: application/json' -d '{\"events\": [{\"event_id\": \"demo-1\", \"user_id\": \"'$$user'\", \"item_id\": \"'$$item'\", \"type\": \"purchase\"}]}' http://127.0.0.1:$(PORT)/v1/events"
	@echo "evaluating every model against the baselines beside the server (log: $(DEMO_DIR)/evaluate.log): the report is $(DEMO_DIR)/report/report.html when the log says it is written"
	@# the evaluation (a second model search, on a split) runs beside the server, which answers meanwhile (the
	@# evaluation at a lower priority: the server starts first); it stops with the server
	nice -n 10 $(BIN)/recommender evaluate $(DATA) --report $(DEMO_DIR)/report > $(DEMO_DIR)/evaluate.log 2>&1 & evaluation=$$!; \
	trap 'kill $$evaluation 2>/dev/null' EXIT INT TERM; \
	RECOMMENDER_INGEST_KEYS=$(INGEST_KEY) RECOMMENDER_ADMIN_KEY=$(ADMIN_KEY) $(BIN)/recommender serve --model $(DEMO_DIR)/model --port $(PORT) \
		--forecasts $(DEMO_DIR)/forecasts --merchant-tokens $(DEMO_DIR)/merchant_tokens.json

# ruff (lint) and mypy (types), configured in pyproject.toml; `make test` runs them first
lint: $(VENV)/.test-packages
	$(BIN)/ruff check .
	$(BIN)/mypy

test: $(VENV)/.test-packages lint
	scripts/system-packages.sh
	$(BIN)/python -m pytest

# No chromium, PostgreSQL or Spark needed: the markers (pyproject.toml) leave their tests out.
test-fast: $(VENV)/.test-packages
	$(BIN)/python -m pytest -m "not slow and not browser and not postgres and not spark"

clean:
	rm -rf $(VENV) $(DEMO_DIR) build *.egg-info
