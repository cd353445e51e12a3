#!/bin/sh
# Usage: check-example.sh
# The README's first command as a newcomer runs it: a fresh clone of this
# checkout's HEAD (its own new .venv), `./run.sh example` on a free port, the
# first page awaited, a login through the sandbox as a person makes it
# (scripts/login_as.py: cookies, redirects, the consent page's "Log in as"
# button), then the site stopped by its process group, on failure too.
# Fails when the example installs any test, docs or development tool. Prints
# the install-and-start time and the size of the example's .venv. CI runs it.
set -eu
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
pid=""
stop() {
    if [ -n "$pid" ]; then kill -TERM -- "-$pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap stop EXIT
trap 'exit 1' INT TERM
git clone -q "$repo" "$work/clone"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base=http://127.0.0.1:$port
started=$(date +%s)
# Its own session and process group, so that the site and its reloader stop together.
setsid "$work/clone/run.sh" example --port "$port" >"$work/example.log" 2>&1 &
pid=$!
alive() { grep -q '^State:[[:space:]]*[^Z]' "/proc/$pid/status" 2>/dev/null; }
answers() { python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=5)' "$1" 2>/dev/null; }
until answers "$base/"; do
    if ! alive || [ $(($(date +%s) - started)) -gt 300 ]; then
        echo "error: the example never answered $base/:" >&2
        cat "$work/example.log" >&2
        exit 1
    fi
    sleep 0.5
done
echo "./run.sh example: first page of $base/ after $(($(date +%s) - started)) s (install and start)"
venv=$work/clone/.venv
tools=$("$venv/bin/python" -m pip list --format=freeze 2>/dev/null |
    grep -i -E '^(pytest|hypothesis|playwright|cheroot|sphinx|furo|ruff|mypy|psycopg|gunicorn)==' || true)
[ -z "$tools" ] || { echo "error: the example installed test or development tools: $tools" >&2; exit 1; }
echo "its .venv: $(du -sm "$venv" | cut -f1) MB, $("$venv/bin/python" -m pip list --format=freeze 2>/dev/null | wc -l) packages, no test or development tool"
"$venv/bin/python" "$repo/scripts/login_as.py" "$base/wechat/login" "Alice Smith"
