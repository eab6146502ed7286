#!/usr/bin/env bash
# Static checks, run by scripts/test.sh before the tests: import-linter's layer contracts (about a
# second; docs/architecture.md, "Which package imports which"), ruff's lint rules and its format
# check (seconds; `ruff format . && ruff check --fix .` mends most), then mypy on every package
# (under a minute from a cold cache, seconds after), all configured in pyproject.toml.
set -euo pipefail
cd "$(dirname "$0")/.."
lint-imports --no-logo
ruff check .
ruff format --check .
mypy bloomwatch store training classifiers streams dashboards app
echo "lint: layer contracts, ruff check, format check and mypy passed"
