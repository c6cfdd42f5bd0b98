.PHONY: setup test demo bench bench-quick
setup: ; bash scripts/setup.sh
test: ; bash scripts/test.sh
demo: ; bash scripts/demo.sh
# benchmarks, never part of the tests: the probe cycle, its socket floor, then Talon vs Monit vs blackbox exporter
bench: setup
	bash scripts/bench-setup.sh
	.venv/bin/python -m bench.probe_cycle
	.venv/bin/python -m bench.socket_floor
	.venv/bin/python -m bench.compare
bench-quick: setup
	bash scripts/bench-setup.sh
	.venv/bin/python -m bench.probe_cycle --rounds 3
	.venv/bin/python -m bench.compare --quick
# the daemon's own cost: RSS (and its growth over 10 000 cycles), idle CPU, start-up, the core
.PHONY: bench-daemon
bench-daemon: setup ; .venv/bin/python -m bench.daemon_cost
# a dead worker's restart (Talon vs supervisord vs Monit) and the CPU of one script check
.PHONY: bench-worker
bench-worker: setup
	bash scripts/bench-setup.sh
	.venv/bin/python -m bench.worker_restart
	.venv/bin/python -m bench.script_cost
# last-probe.json: build, serialise and write at 100/1000/5000 probes, against an open-file floor
.PHONY: bench-store
bench-store: setup ; .venv/bin/python -m bench.last_probe
