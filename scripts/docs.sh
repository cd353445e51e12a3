#!/bin/sh
# Build the docs in English (docs/_build/html) and 简体中文
# (docs/_build/html/zh_CN), both with -W, and check the Chinese catalog:
# every message of every page translated, none fuzzy, none missing.
#
#   scripts/docs.sh          build both and check (the test command runs this)
#   scripts/docs.sh update   refresh docs/locale/zh_CN from the current pages
#                            (new or changed messages come in untranslated or
#                            fuzzy; translate them, then run scripts/docs.sh)
#
# Extra sphinx-build options come from $SPHINXOPTS (e.g. SPHINXOPTS=-n).
set -eu
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
# -E: a fresh environment each time, so every warning is reported again
# (-W) and every page gets the current titles of the others.
OPTS="-q -E -W --keep-going ${SPHINXOPTS:-}"
POT=docs/_build/gettext

# The message templates are built from the current pages each time, so a
# page changed without its translation fails the check below (and a page
# removed leaves no template behind).
rm -rf "$POT"
# shellcheck disable=SC2086
"$BIN/sphinx-build" $OPTS -b gettext docs "$POT"

if [ "${1:-}" = update ]; then
	"$BIN/sphinx-intl" update -p "$POT" -d docs/locale -l zh_CN
	exec "$BIN/python" scripts/check_docs_catalog.py "$POT" docs/locale/zh_CN/LC_MESSAGES --stats
fi

# shellcheck disable=SC2086
"$BIN/sphinx-build" $OPTS -b html docs docs/_build/html
# shellcheck disable=SC2086
"$BIN/sphinx-build" $OPTS -b html -D language=zh_CN docs docs/_build/html/zh_CN
"$BIN/python" scripts/check_docs_catalog.py "$POT" docs/locale/zh_CN/LC_MESSAGES
