#!/bin/sh
# Usage: check-browser-libs.sh VENV_PYTHON
# Fail early, naming the Debian package, when Playwright's Node driver or
# Debian's Chromium cannot load a shared library: otherwise every browser test
# fails in setup with "Connection closed while reading from the driver".
set -eu
node=$("$1" -c 'from playwright._impl._driver import compute_driver_executable as c; print(c()[0])')
missing=$({ ldd "$node"; ldd /usr/lib/chromium/chromium; } 2>&1 | awk '/not found/ {print $1}' | sort -u)
[ -z "$missing" ] && exit 0
for lib in $missing; do
    case $lib in
    libatomic.so.*) package=libatomic1 ;;
    libstdc++.so.*) package=libstdc++6 ;;
    libgcc_s.so.*) package=libgcc-s1 ;;
    *) package="chromium (reinstall it: apt-get install --reinstall chromium)" ;;
    esac
    echo "error: $lib is missing, which Playwright's driver or Chromium needs: install the Debian package $package" >&2
done
exit 1
