# The two README commands, plus stop and bench. Each is a thin call into develop/devctl.py (usable without make).
PYTHON ?= python3

.PHONY: demo test stop bench lint

demo:
	$(PYTHON) develop/devctl.py demo

test:
	$(PYTHON) develop/devctl.py test $(ARGS)

stop:
	$(PYTHON) develop/devctl.py stop

bench:
	$(PYTHON) develop/devctl.py bench

lint:
	.venv/bin/ruff check netbox_custom_scripts tests develop bench
