#!/usr/bin/env bash
# The whole test suite: set up what is missing, lint, the import contracts (pyproject.toml's
# [tool.importlinter]), the extension's unit tests, then pytest (fails on any failure).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/lint-imports
(cd extension && npm test --silent)
.venv/bin/python -m pytest "$@"
