#!/bin/sh
# Usage: matrix.sh [PYTEST_ARGS...]
# The whole suite on every Python 3.10-3.13 found (pyenv's versions, else
# python3.X on PATH), each in its own .venv-3.X with the test extras; prints
# pytest's summary per Python. Logs: test-artifacts/matrix-3.X.log. Slow, so
# not in CI.
set -eu
cd "$(dirname "$0")/.."
sh scripts/system-deps.sh
mkdir -p test-artifacts
summary=""
status=0
for version in 3.10 3.11 3.12 3.13; do
    python=""
    for candidate in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$version".*/bin/python"$version" \
        "$(command -v "python$version" || true)"; do
        if [ -x "$candidate" ] && "$candidate" -c pass 2>/dev/null; then python=$candidate && break; fi
    done
    if [ -z "$python" ]; then
        summary="$summary$version: not found\n"
        continue
    fi
    venv=.venv-$version
    log=test-artifacts/matrix-$version.log
    echo "Python $version ($python): installing, then pytest; log in $log"
    sh scripts/venv.sh "$venv" "$python"
    if "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        -e ".[$(python3 scripts/test-extras.py)]" >"$log" 2>&1 &&
        "$venv/bin/python" -m pytest "$@" >>"$log" 2>&1; then
        outcome=OK
    else
        outcome=FAILED
        status=1
    fi
    summary="$summary$version: $outcome, $("$venv/bin/python" -V 2>&1): $(tail -n 1 "$log")\n"
done
printf %b "$summary"
exit $status
