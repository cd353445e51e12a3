#!/bin/sh
# Usage: system-deps.sh [servers|test]
# Install the Debian packages a command drives for real, where missing:
#   servers  PostgreSQL, nginx and Redis: the database tests and the
#            benchmark's three hosts (./run.sh bench);
#   test     (the default) those, plus Chromium, Node.js, curl and the CJK and
#            emoji fonts for the browser tests and the fake's client tests.
# The example site needs none of them (./run.sh example installs only
# python3-venv, where Debian's Python lacks it).
set -eu
set_name=${1:-test}
missing=""
ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || missing="$missing postgresql"
[ -x /usr/sbin/nginx ] || missing="$missing nginx"  # the load balancer of the topology test
command -v redis-server >/dev/null 2>&1 || missing="$missing redis-server"  # Flask-Session tests
if [ "$set_name" = test ]; then
    command -v chromium >/dev/null 2>&1 || missing="$missing chromium"
    # Playwright's Node driver links libatomic.so.1, absent from a minimal Debian.
    dpkg-query -W -f '${Status}' libatomic1 2>/dev/null | grep -q "ok installed" || missing="$missing libatomic1"
    command -v node >/dev/null 2>&1 || missing="$missing nodejs"  # runs the fake's wxLogin.js
    command -v curl >/dev/null 2>&1 || missing="$missing curl"  # the fake's curl session test
    # Chinese text and emoji in the browser screenshots.
    [ -d /usr/share/fonts/truetype/wqy ] || missing="$missing fonts-wqy-microhei"
    # Noto Sans CJK SC/TC: the pages' own font stacks name them; real bold weights and
    # Taiwan's glyph forms for 繁體中文 (WenQuanYi has one weight and mainland forms).
    [ -f /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc ] || missing="$missing fonts-noto-cjk"
    [ -f /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ] || missing="$missing fonts-noto-color-emoji"
    command -v fc-match >/dev/null 2>&1 || missing="$missing fontconfig"  # the emoji font check
elif [ "$set_name" != servers ]; then
    echo "usage: system-deps.sh [servers|test]" >&2
    exit 2
fi
# shellcheck disable=SC2086  # one word per package
exec sh "$(dirname "$0")/apt-install.sh" $missing
