# Pier: the two commands that matter (see README.md)
#   make run    install everything, start pierd, make busybox:latest, run a container
#   make test   install everything (test dependencies too) and run the whole suite

SHELL := /bin/bash
# Debian's own interpreter (the `python3` package below), not whatever `python3` is first
# on PATH: it is what a fresh Debian machine has, so what the suite tests, and its
# build (PGO) starts the CLI about 2 ms sooner than pyenv's here (bench/README.md).
PYTHON ?= /usr/bin/python3
VENV := $(CURDIR)/.venv
SOCK ?= /run/pier/pier.sock
PIERD_LOG ?= /var/log/pierd.log
APT_PACKAGES := crun runc conmon busybox-static tini catatonit nftables iproute2 etcd-server \
	procps python3 python3-venv python3-pip ca-certificates git gcc patchelf
TEST_APT_PACKAGES := docker.io
# Real registries and clients the distribution tests talk to; openssl makes the
# certificates of the API's TLS tests.
TEST_REGISTRY_PACKAGES := docker-registry skopeo openssl
PYTEST_ARGS ?=

.PHONY: all deps test-deps venv-interpreter install run test test-cluster lint typecheck clean-run hybrid-cgroups crash soak

all: install

# Debian packages, installed only when one is missing (idempotent, no network otherwise).
deps:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null \
		| grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing:" $$missing; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

# The docker CLI the compatibility tests drive: the preinstalled /usr/local/bin/docker
# where there is one, else Debian's docker.io (which ships a client too).
test-deps: deps
	@command -v docker >/dev/null || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(TEST_APT_PACKAGES); }
	@missing=$$(for p in $(TEST_REGISTRY_PACKAGES); do dpkg-query -W -f='$${Status}' $$p \
		2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing:" $$missing; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

# An environment made with another interpreter is made again.
venv-interpreter: deps
	@if [ -x $(VENV)/bin/python ] && \
		[ "$$(readlink -f $(VENV)/bin/python)" != "$$(readlink -f $(PYTHON))" ]; then \
		echo "$(VENV) was made with another interpreter: making it again"; rm -rf $(VENV); fi

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[test]'
	touch $@

# conmon without the journal (docs/decisions.md): a copy of Debian's conmon that links a
# stub instead of libsystemd, 120 KiB less per container; pierd falls back to the
# conmon on PATH when the copy is missing or was made from another conmon.
install: deps venv-interpreter $(VENV)/.installed
	scripts/lean-conmon.sh $(VENV)/libexec/pier
	ln -sf $(VENV)/bin/pier /usr/local/bin/pier
	ln -sf $(VENV)/bin/pierd /usr/local/bin/pierd

# crun refuses to run on a cgroup v1 hybrid host whose cgroup2 mount holds a controller
# (DESIGN §11); pierd can fix that itself with --fix-hybrid-cgroups, which `run` asks for.
run: install
	@if ! $(VENV)/bin/pier -H unix://$(SOCK) version >/dev/null 2>&1; then \
		echo "starting pierd (log: $(PIERD_LOG))"; \
		setsid $(VENV)/bin/pierd -H unix://$(SOCK) --fix-hybrid-cgroups \
			>>$(PIERD_LOG) 2>&1 < /dev/null & \
		for i in $$(seq 100); do \
			$(VENV)/bin/pier -H unix://$(SOCK) version >/dev/null 2>&1 && break; sleep 0.1; \
		done; \
	fi
	@$(VENV)/bin/pier -H unix://$(SOCK) image inspect busybox:latest >/dev/null 2>&1 || \
		scripts/busybox-image.sh | $(VENV)/bin/pier -H unix://$(SOCK) import - busybox:latest
	$(VENV)/bin/pier -H unix://$(SOCK) run --rm busybox echo hello from pier

# The whole suite: everything but the swarm cluster tests on two workers, then those
# (several pierds and etcd members each) one at a time.
test: test-deps install
	$(VENV)/bin/python -c 'from pier.runtime.cgroups import check_crun_usable, fix_hybrid; \
		check_crun_usable() and fix_hybrid()'
	$(VENV)/bin/pytest -n 2 --dist loadfile -m "not slow" $(PYTEST_ARGS)
	$(VENV)/bin/pytest -n 0 -m slow tests/integration/swarm tests/e2e/swarm $(PYTEST_ARGS)

# Only the swarm cluster tests.
test-cluster: test-deps install
	$(VENV)/bin/python -c 'from pier.runtime.cgroups import check_crun_usable, fix_hybrid; \
		check_crun_usable() and fix_hybrid()'
	$(VENV)/bin/pytest -n 0 -m slow tests/integration/swarm tests/e2e/swarm $(PYTEST_ARGS)

# The crash-point suite in full: every mutating operation killed at CRASH_POINTS moments
# (`make test` runs it with one moment each). One daemon, points in sequence.
CRASH_POINTS ?= 16
crash: test-deps install
	$(VENV)/bin/python -c 'from pier.runtime.cgroups import check_crun_usable, fix_hybrid; \
		check_crun_usable() and fix_hybrid()'
	PIER_CRASH_POINTS=$(CRASH_POINTS) $(VENV)/bin/pytest -n 0 -p no:cacheprovider tests/crash $(PYTEST_ARGS)

# The load test: 20 concurrent `docker run --rm` clients plus ps and logs for 3 minutes;
# 0 errors, 0 leaks, pierd's memory at the end within 10% of its level after 30 s.
SOAK_ARGS ?=
soak: test-deps install
	$(VENV)/bin/python -c 'from pier.runtime.cgroups import check_crun_usable, fix_hybrid; \
		check_crun_usable() and fix_hybrid()'
	$(VENV)/bin/python tests/crash/soak.py $(SOAK_ARGS)

lint: install
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/mypy

include bench/Makefile.inc
