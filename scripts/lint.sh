#!/usr/bin/env bash
# Static checks, run by scripts/test.sh before the tests (seconds): ruff's lint rules and its
# format check, configured in pyproject.toml. `ruff format . && ruff check --fix .` mends most.
set -euo pipefail
cd "$(dirname "$0")/.."
ruff check .
ruff format --check .
echo "lint: ruff check and format check passed"
