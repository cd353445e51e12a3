#!/bin/sh
# Usage: sudo scripts/check-fresh-debian.sh [ROOT_DIR]
#
# Proves the README's two commands on a fresh minimal Debian bookworm: makes a
# debootstrap root (minbase, from the Debian mirror this machine's apt uses),
# installs python3 and git only, clones this checkout's HEAD into it, runs the
# README's example command, logs in through the sandbox as a person would
# (scripts/login_as.py), stops the site and lists the Debian packages it
# added, then runs the README's test command on a second fresh clone. Prints each step's
# outcome and time; logs go to ROOT_DIR/logs. Takes many minutes: not for CI.
#
# Copied from this machine into the root: the Debian apt sources, the CA
# certificates and the pip configuration (a network that intercepts TLS needs
# them), nothing else. The root shares this machine's loopback and processes,
# so the example runs on a free port and the tests bind port 0 as always.
set -eu

[ "$(id -u)" -eq 0 ] || { echo "error: run as root (debootstrap, chroot, mount)" >&2; exit 2; }
repo=$(cd "$(dirname "$0")/.." && pwd)
root=${1:-$(mktemp -d /var/tmp/fresh-debian.XXXXXX)}
logs=$root/logs
project=/root/Flask-WeChat-Web
mkdir -p "$logs"

# The Debian mirror apt uses here: the first URIs line of a deb822 file, else
# the first deb line of sources.list.
mirror=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '/^URIs:/ && /debian/ && !/security/ {print $2; exit}')
[ -n "$mirror" ] || mirror=$(awk '$1 == "deb" && /debian/ && !/security/ {print $2; exit}' /etc/apt/sources.list)

started=$(date +%s)
failed=0
# step NAME COMMAND...: run it (stopping at its first failing command), logged
# to logs/NAME.log; print its outcome and time.
step() {
    name=$1
    shift
    log=$logs/$(printf %s "$name" | tr -c 'A-Za-z0-9-' _).log
    t0=$(date +%s)
    set +e
    (set -e; "$@") >"$log" 2>&1
    status=$?
    set -e
    if [ $status -eq 0 ]; then outcome=OK; else outcome="FAILED (exit $status)"; failed=1; fi
    printf '%-18s %-16s %5ss\n' "$name" "$outcome" "$(($(date +%s) - t0))"
    if [ $status -ne 0 ]; then tail -n 30 "$log" | sed 's/^/    | /'; fi
    return 0
}
# in_root COMMAND: a login-like shell in the root, with a clean environment.
in_root() {
    chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb CI=true \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin sh -c "$1"
}

# Stop what still runs in the root (the example site, if a step failed), then
# unmount what we mounted.
kill_in_root() {  # each process this script started in the root, by its id
    for proc in /proc/[0-9]*; do
        if [ "$(readlink "$proc/root" 2>/dev/null)" = "$root" ]; then
            kill "${proc#/proc/}" 2>/dev/null || true
        fi
    done
}
cleanup() {
    kill_in_root
    sleep 1
    for mount in dev/shm dev/pts dev sys proc; do
        if mountpoint -q "$root/$mount"; then umount -l "$root/$mount"; fi
    done
    return 0
}
trap cleanup EXIT

bootstrap() {
    command -v debootstrap >/dev/null || apt-get install -y -qq debootstrap
    debootstrap --variant=minbase bookworm "$root" "$mirror"
}
prepare_root() {
    mount -t proc proc "$root/proc"
    mount -t sysfs sys "$root/sys"
    mount --bind /dev "$root/dev"
    mount -t devpts devpts "$root/dev/pts" -o newinstance
    mount -t tmpfs shm "$root/dev/shm"
    # The Debian sources only (other repositories' keyrings are not in the
    # root), in place of debootstrap's own.
    rm -f "$root/etc/apt/sources.list"
    for file in /etc/apt/sources.list /etc/apt/sources.list.d/*; do
        if [ -f "$file" ] && grep -q "$mirror" "$file"; then cp "$file" "$root$file"; fi
    done
    # The bundle, and the local CAs in it, which Debian's ca-certificates
    # (installed later, with Chromium) keeps when it rebuilds the bundle.
    mkdir -p "$root/etc/ssl/certs" "$root/usr/local/share/ca-certificates"
    cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
    for ca in /usr/local/share/ca-certificates/*.crt; do
        if [ -f "$ca" ]; then cp "$ca" "$root/usr/local/share/ca-certificates/"; fi
    done
    for pip_config in /etc/pip.conf /etc/xdg/pip /root/.config/pip; do
        if [ -e "$pip_config" ]; then
            mkdir -p "$root$(dirname "$pip_config")"
            cp -r "$pip_config" "$root$pip_config"
        fi
    done
    in_root 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3 git'
}
clone() {  # clone DIR: this checkout's HEAD, cloned by the root's git
    git -C "$repo" bundle create "$root/tmp/repo.bundle" HEAD "$(git -C "$repo" symbolic-ref -q HEAD)"
    in_root "git clone -q /tmp/repo.bundle $1"
}
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
# The README's example command on a fresh clone; returns once the first page
# answers (or fails after 120 s). Its time is the first page's time.
example_up() {
    port=$(free_port)
    base=http://127.0.0.1:$port
    echo "$base" >"$logs/example.url"
    in_root "cd /root/example-clone && FLASK_RUN_PORT=$port exec ./run.sh example" >"$logs/example-server.log" 2>&1 &
    pid=$!
    deadline=$(($(date +%s) + 120))
    until curl -sf -o /dev/null "$base/"; do
        kill -0 $pid 2>/dev/null || { cat "$logs/example-server.log"; return 1; }
        [ "$(date +%s)" -lt "$deadline" ] || { cat "$logs/example-server.log"; return 1; }
        sleep 0.2
    done
    echo "first page of $base/ served"
    # Only the package and what the example uses: nothing for tests, docs, dev.
    installed=$(in_root '/root/example-clone/.venv/bin/python -m pip list --format=freeze')
    echo "$installed"
    ! echo "$installed" | grep -i -E '^(pytest|hypothesis|playwright|cheroot|sphinx|furo|ruff|mypy)=='
}
# Log in as Alice through the sandbox's consent page, as a browser would.
sandbox_login() {
    in_root "/root/example-clone/.venv/bin/python /root/example-clone/scripts/login_as.py $(cat "$logs/example.url")/wechat/login 'Alice Smith'"
}
# The example brought no Debian package but python3-venv's: no browser, database or server.
example_footprint() {
    in_root 'dpkg-query -W -f "\${Package}\n"' | sort >"$logs/packages-after-example"
    comm -13 "$logs/packages-before-example" "$logs/packages-after-example" | tee "$logs/example-debs"
    echo "$(wc -l <"$logs/example-debs") Debian packages added; the example's .venv: $(du -sm "$root/root/example-clone/.venv" | cut -f1) MB"
    ! grep -E '^(chromium|nodejs|postgresql|nginx|redis-server|fonts-)' "$logs/example-debs"
}
example_stop() {
    kill_in_root  # the site and its reloader
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        curl -s -o /dev/null "$(cat "$logs/example.url")/" || { echo stopped; return 0; }
        sleep 0.5
    done
    echo "still serving"
    return 1
}

echo "Fresh Debian bookworm (minbase) in $root, mirror $mirror, checkout $(git -C "$repo" rev-parse --short HEAD)"
step debootstrap bootstrap
[ $failed -eq 0 ] && step python3-and-git prepare_root
# The example first, on the untouched root: what a newcomer's first command installs.
[ $failed -eq 0 ] && step clone-for-example clone /root/example-clone
[ $failed -eq 0 ] && in_root 'dpkg-query -W -f "\${Package}\n"' | sort >"$logs/packages-before-example"
[ $failed -eq 0 ] && step "./run.sh example" example_up
[ $failed -eq 0 ] && step sandbox-login sandbox_login
[ $failed -eq 0 ] && step stop-example example_stop
[ $failed -eq 0 ] && step example-footprint example_footprint
[ $failed -eq 0 ] && step clone clone "$project"
[ $failed -eq 0 ] && step "./run.sh test" in_root "cd $project && ./run.sh test"
grep -E '^=+ .*(passed|failed).* in .*=+$' "$logs/__run_sh_test.log" 2>/dev/null | tail -n 1 || true
echo "total $(($(date +%s) - started))s: $([ $failed -eq 0 ] && echo ALL OK || echo FAILED); logs in $logs"
exit $failed
