#!/bin/sh
# Usage: check-dist.sh [PYTEST_ARGS...]
# Build the sdist and the wheel as a release would (warnings fail it), run
# twine check on both, then unpack the sdist, install it with its test extras
# in a new virtual environment and run its test suite there. Not in CI.
set -eu
cd "$(dirname "$0")/.."
./run.sh lint >/dev/null  # the .venv with build and twine
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# A clean build environment: no bytecode setting from the caller.
env -u PYTHONDONTWRITEBYTECODE .venv/bin/python -m build --outdir "$work/dist" . >"$work/build.log" 2>&1 ||
    { cat "$work/build.log"; exit 1; }
if grep -i -E 'warning' "$work/build.log" | grep -v "Location 'file:" ; then
    echo "error: the build printed warnings (above)" >&2
    exit 1
fi
echo "build: $(cd "$work/dist" && ls | tr '\n' ' ')(no warnings)"
.venv/bin/twine check --strict "$work"/dist/*
tar -xzf "$work"/dist/*.tar.gz -C "$work"
unpacked=$(ls -d "$work"/flask_wechat_web-*/)
cd "$unpacked"
sh scripts/venv.sh .venv-sdist
.venv-sdist/bin/python -m pip install --quiet --disable-pip-version-check ".[$(python3 scripts/test-extras.py)]"
echo "tests of the unpacked sdist in $unpacked:"
.venv-sdist/bin/python -m pytest -q "$@"
