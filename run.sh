#!/bin/sh
# The README's two commands, needing nothing but python3 (and git to clone):
#
#   ./run.sh example   the example site in sandbox mode, http://127.0.0.1:5000
#   ./run.sh test      the whole suite: Debian packages, ruff, mypy, docs, pytest
#
# and, for developers: lint, docs, bench, matrix (the suite on every Python
# 3.10-3.13 found), lowest (the unit tests on the lowest versions setup.py
# allows). Arguments after the command go to flask run, pytest or the
# benchmark. Each command installs what it needs into .venv once, and again
# only when setup.py or pyproject.toml changes.
set -eu
cd "$(dirname "$0")"

PYTHON=${PYTHON:-python3}
VENV=.venv
BIN=$VENV/bin
#: The extras the example site imports (Flask-SQLAlchemy, Flask-Babel).
EXAMPLE_EXTRAS=example
#: The extras for the suite, the docs build and the linters.
DEV_EXTRAS=test,docs,dev

# install EXTRAS: the package, editable, with those extras, into .venv.
install() {
    stamp="$VENV/.installed-$1"
    if [ -f "$stamp" ] && [ -z "$(find setup.py pyproject.toml -newer "$stamp")" ]; then
        return
    fi
    sh scripts/venv.sh "$VENV" "$PYTHON"
    echo "Installing Flask-WeChat-Web[$1] into $VENV"
    "$BIN/python" -m pip install --quiet --disable-pip-version-check -e ".[$1]"
    touch "$stamp"
}

lint() {
    "$BIN/ruff" check flask_wechat_web tests example benchmarks scripts
    "$BIN/ruff" format --check flask_wechat_web tests example benchmarks scripts
    "$BIN/mypy" --strict flask_wechat_web
    "$BIN/lint-imports" --no-cache  # the layers, no import circle: pyproject.toml
    BIN=$BIN sh scripts/lint-ci.sh  # the workflows, .readthedocs.yaml, pre-commit's file
}

# Both languages, nitpicky, and the Chinese catalog complete (scripts/docs.sh).
docs() {
    BIN=$BIN SPHINXOPTS=-n sh scripts/docs.sh
}

command=${1:-}
[ $# -gt 0 ] && shift
case $command in
example)
    install "$EXAMPLE_EXTRAS"
    echo "The example site in sandbox mode (no WeChat account needed): log in as a sample user."
    WECHAT_WEB_SANDBOX=1 exec "$BIN/flask" --app example run --debug "$@"
    ;;
test)
    sh scripts/system-deps.sh
    install "$DEV_EXTRAS"
    sh scripts/check-browser-libs.sh "$BIN/python"
    lint
    docs
    exec "$BIN/python" -m pytest "$@"
    ;;
lint)
    install "$DEV_EXTRAS"
    lint
    ;;
docs)
    install "$DEV_EXTRAS"
    docs
    ;;
bench)
    sh scripts/system-deps.sh servers  # the three hosts: nginx, Redis, PostgreSQL
    install "$DEV_EXTRAS"
    exec "$BIN/python" -m benchmarks.login "$@"
    ;;
matrix)
    exec sh scripts/matrix.sh "$@"
    ;;
lowest)
    exec sh scripts/lowest-versions.sh "$@"
    ;;
*)
    sed -n '2,11s/^# \{0,1\}//p' "$0" >&2
    exit 2
    ;;
esac
