#!/usr/bin/env bash
# Creates a Python virtual environment with SyGNet (PyPI sygnet 0.0.13) and a
# CPU build of PyTorch, for bench/compare-python.R.
# Usage: bash bench/sygnet-py/setup.sh [venv-dir]   (default: bench/sygnet-py/.venv)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
venv=${1:-"$here/.venv"}
python=${PYTHON:-python3}

"$python" -m venv "$venv"
pip="$venv/bin/python -m pip"
$pip install --upgrade pip >/dev/null

# The CPU-only wheel is much smaller than PyPI's default (CUDA) build.
if $pip install --index-url https://download.pytorch.org/whl/cpu torch; then
  echo "setup.sh: installed the CPU-only torch from the PyTorch wheel index"
else
  echo "setup.sh: the PyTorch CPU wheel index was unreachable; installing torch from PyPI instead (a CUDA build; it runs on the CPU here)" >&2
  $pip install torch
fi
$pip install "sygnet==0.0.13" "pandas<3"
"$venv/bin/python" -c 'import torch, sygnet, pandas; print("torch", torch.__version__, "| pandas", pandas.__version__, "| sygnet 0.0.13 ready")'
echo "setup.sh: done. Use it with: SYGNET_PY=$venv/bin/python Rscript bench/compare-python.R"
