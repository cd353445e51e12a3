#!/bin/sh
# Usage: lint-ci.sh
# Lint the files that build and publish the project elsewhere, offline:
# the GitHub workflows and .readthedocs.yaml against their schemas (vendored
# by check-jsonschema), the workflows with zizmor's security audits (pinned
# actions, permissions, credentials, injection; --offline: no GitHub token,
# no network), and .pre-commit-config.yaml. ./run.sh lint runs it.
set -eu
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
"$BIN/check-jsonschema" --builtin-schema vendor.github-workflows .github/workflows/*.yaml
"$BIN/check-jsonschema" --builtin-schema vendor.readthedocs .readthedocs.yaml
"$BIN/zizmor" --offline --quiet --no-progress .github/workflows
"$BIN/pre-commit" validate-config .pre-commit-config.yaml
