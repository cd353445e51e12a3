#!/bin/sh
# Usage: lowest-versions.sh [PYTEST_ARGS...]
# The unit tests (all of tests/ but the browser and gunicorn ones in
# tests/e2e, and the repository checks of tests/test_conventions.py) on the
# lowest version setup.py allows of each direct dependency (uv's
# --resolution lowest-direct), in a new .venv-lowest, with every extra
# but docs and dev (tools the package and its tests do not import). Prints
# the versions it installed. Where it fails, raise that lower bound in
# setup.py. CI runs it after the README's test command.
set -eu
cd "$(dirname "$0")/.."
venv=.venv-lowest
# uv's own CA roots do not know a TLS-intercepting proxy's; the system's do.
UV_SYSTEM_CERTS=${UV_SYSTEM_CERTS:-1}
export UV_SYSTEM_CERTS

sh scripts/system-deps.sh  # PostgreSQL, for the database tests
rm -rf "$venv"
sh scripts/venv.sh "$venv" "${PYTHON:-python3}"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check uv
extras="--extra $("$venv/bin/python" scripts/test-extras.py " --extra ")"
uv="$venv/bin/uv"
# shellcheck disable=SC2086  # one word per option
"$uv" pip compile --quiet setup.py $extras --resolution lowest-direct \
    --python "$venv/bin/python" --no-header --no-annotate -o "$venv/requirements.txt"
"$uv" pip install --quiet --python "$venv/bin/python" -r "$venv/requirements.txt"
"$uv" pip install --quiet --python "$venv/bin/python" --no-deps -e .
echo "Lowest versions ($extras):"
"$uv" pip freeze --python "$venv/bin/python" --exclude-editable | grep -v '^uv==' | tr '\n' ' '
echo
# tests/test_conventions.py checks the repository's own files (workflows, the
# docs' conf.py) with the docs and dev tools, which this venv leaves out.
exec "$venv/bin/python" -m pytest --ignore=tests/e2e --ignore=tests/test_conventions.py "$@"
