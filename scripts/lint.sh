#!/usr/bin/env bash
# Static checks, run by scripts/test.sh before the tests: ruff's lint rules and its format check
# (seconds; `ruff format . && ruff check --fix .` mends most), then mypy on the type-clean packages
# (under a minute from a cold cache, seconds after), all configured in pyproject.toml.
set -euo pipefail
cd "$(dirname "$0")/.."
ruff check .
ruff format --check .
mypy bloomwatch classifiers training
echo "lint: ruff check, format check and mypy passed"
