#!/bin/sh
# Usage: venv.sh DIR [PYTHON]
# Make a virtual environment at DIR with PYTHON (default python3) unless one is
# there, installing Debian's venv module first where that Python lacks it.
set -eu
dir=$1
python=${2:-python3}
[ -x "$dir/bin/python" ] && exit 0
"$python" -m venv "$dir" >/dev/null 2>&1 || {
    rm -rf "$dir"
    sh "$(dirname "$0")/apt-install.sh" python3-venv
    "$python" -m venv "$dir"
}
