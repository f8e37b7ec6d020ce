# GridTwin: `make run` for a first look (embedded mode), `make test` for the whole suite.
.PHONY: install run worker test lint bench clean docs docs-serve

PY := .venv/bin/python

install:
	@scripts/install.sh

run: install
	@scripts/run-embedded.sh

lint: install
	.venv/bin/ruff check .

test: export WITH_BROWSER = 1
test: install lint
	@scripts/run-tests.sh

# The documentation (MkDocs, mkdocs.yml): built into var/docs-site/, or served while editing.
docs: install
	NO_MKDOCS_2_WARNING=1 .venv/bin/mkdocs build --strict

docs-serve: install
	NO_MKDOCS_2_WARNING=1 .venv/bin/mkdocs serve --dev-addr 127.0.0.1:8001

BENCHES := charger_near osm_import tiles opf routing prices overlays

bench: install
	@eval "$$(scripts/test-services.sh start)" && \
	  for b in $(BENCHES); do $(PY) bench/$$b.py || exit 1; done

clean:
	-scripts/test-services.sh stop
	rm -rf var/static var/celery
