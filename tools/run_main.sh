#!/usr/bin/env bash
# The main job: set up (idempotent), then a real ComfyUI with this pack runs a shipped workflow
# headless and writes its PNG(s) to ./output/.
#
#   bash tools/run_main.sh [workflow.json] [--size N] [--steps N] [--device cpu|gpu] [--out DIR]
#
#   MAGICMIX_CHECKPOINT  an SD checkpoint file to use; without it the built-in random-weight SD1.5
#                        test checkpoint is generated (once, cached) and the run is made small enough
#                        for a CPU (256x256, 20 steps) unless --size / --steps are given.
# Other arguments go to tools/run_workflow.py (--help lists them).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$REPO/tools/setup.sh"
CACHE="${MAGICMIX_CACHE:-$HOME/.cache/comfyui-magicmix}"

args=("$@")
if [ -z "${MAGICMIX_CHECKPOINT:-}" ]; then
  # The test checkpoint's images are noise-like at any size; the workflow's own 512x512 / 50 steps
  # would only make a CPU run take minutes longer (see docs/measurements.md).
  case " $* " in *" --size"*) ;; *) args+=(--size 256) ;; esac
  case " $* " in *" --steps"*) ;; *) args+=(--steps 20) ;; esac
  echo "[run_main] no MAGICMIX_CHECKPOINT: using the built-in test checkpoint at reduced size/steps (${args[*]})" >&2
fi
exec "$CACHE/venv/bin/python" "$REPO/tools/run_workflow.py" "${args[@]}"
