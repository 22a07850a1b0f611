#!/bin/sh
# Issue 25: the GPU run in under 8 minutes, one JSON (benchmarks/gpu.py says what it holds).
#   sh benchmarks/gpu.sh [--out gpu.json] [--dry-run]
set -e
cd "$(dirname "$0")/.."
PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" exec timeout 470 python3 benchmarks/gpu.py "$@"
