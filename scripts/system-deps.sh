#!/bin/sh
# Install the Debian packages the test suite drives for real: Chromium (and
# CJK and emoji fonts) for the browser tests, PostgreSQL for the database
# tests, plus any package named as an argument. Does nothing when they are
# already there.
set -eu
missing="${1:-}"  # e.g. python3-venv, when Debian's Python lacks venv
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
ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || missing="$missing postgresql"
[ -x /usr/sbin/nginx ] || missing="$missing nginx"  # the load balancer of the topology test
command -v redis-server >/dev/null 2>&1 || missing="$missing redis-server"  # Flask-Session tests
[ -z "$missing" ] && exit 0
echo "Installing Debian packages:$missing"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
