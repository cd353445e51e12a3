# Shortcuts for developers who have make: each target runs the run.sh command
# of the same name (the README's commands need only python3: ./run.sh test).

.PHONY: example test lint docs bench matrix lowest system-deps clean

example:
	./run.sh example $(FLASK_RUN_ARGS)

test:
	./run.sh test $(PYTEST_ARGS)

lint docs matrix lowest:
	./run.sh $@

bench:
	./run.sh bench $(BENCH_ARGS)

system-deps:
	sh scripts/system-deps.sh

clean:
	rm -rf .venv .venv-* docs/_build test-artifacts build dist *.egg-info
