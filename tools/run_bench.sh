#!/usr/bin/env bash
# MagicMix benchmarks on the generated SD1.5 test checkpoint: the CPU, and the GPU when torch sees one.
#
#   bash tools/run_bench.sh            # full run, writes bench/RESULTS.md (~15 min on 2 quiet cores)
#   bash tools/run_bench.sh --smoke    # a few steps of everything (CI smoke check, ~1-2 min)
#
# Extra arguments go to bench/run_bench.py (e.g. --out FILE, --json FILE, --device cpu).
# Needs the set-up of tools/setup.sh (MAGICMIX_CACHE, COMFYUI_PATH as there).
set -euo pipefail

PACK_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${MAGICMIX_CACHE:-$HOME/.cache/comfyui-magicmix}"
PY="$CACHE/venv/bin/python"
[ -x "$PY" ] || { echo "no venv at $CACHE/venv: run bash tools/setup.sh first" >&2; exit 1; }

cd "$PACK_DIR"
exec "$PY" bench/run_bench.py "$@"
