#!/bin/sh
# Usage: apt-install.sh PACKAGE...
# Install those Debian packages (apt-get update first; with sudo when not
# root), quietly and without recommends. The callers pass only what is
# missing: with no package it does nothing.
set -eu
[ $# -gt 0 ] || exit 0
echo "Installing Debian packages: $*"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null
