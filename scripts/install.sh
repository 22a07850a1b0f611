#!/usr/bin/env bash
# Set-up for earthmover: installs the package (editable) with the given extras.
# Where no PyTorch is installed yet, it first installs torch==2.13.0 (a CPU build that
# pip finds locally on the project's machines); an existing torch (a CUDA build, say) is kept.
#   bash scripts/install.sh            # the library and the `earthmover` command
#   bash scripts/install.sh test       # plus what the test suite needs
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c "import torch" >/dev/null 2>&1; then
  "$PYTHON" -m pip install --quiet "torch==2.13.0"
fi
extras=${1:-}
"$PYTHON" -m pip install --quiet --disable-pip-version-check -e ".${extras:+[$extras]}"
# pyenv puts console scripts behind shims that need a rehash to appear on PATH.
if command -v pyenv >/dev/null 2>&1; then pyenv rehash || true; fi
