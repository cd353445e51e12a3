#!/bin/sh
# Usage: check-wheel.sh
# Build the wheel, install it with its "testing" extra into an empty virtual
# environment (nothing from this checkout on the path), and run the README's
# Python sample there against the fake WeChat, logging in as a person would
# (scripts/readme_sample.py). CI runs it after the README's test command,
# whose .venv has the build tool.
set -eu
cd "$(dirname "$0")/.."
repo=$(pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
env -u PYTHONDONTWRITEBYTECODE .venv/bin/python -m build --wheel --outdir "$work/dist" . >"$work/build.log" 2>&1 ||
    { cat "$work/build.log"; exit 1; }
wheel=$(ls "$work"/dist/*.whl)
sh scripts/venv.sh "$work/venv" "${PYTHON:-python3}"
"$work/venv/bin/python" -m pip install --quiet --disable-pip-version-check "$wheel[testing]"
echo "$(basename "$wheel") installed into an empty venv"
cd "$work"  # so that only the installed package can be imported
"$work/venv/bin/python" "$repo/scripts/readme_sample.py" "$repo/README.md"
