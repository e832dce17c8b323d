#!/usr/bin/env bash
# The main job: set up (idempotent), then a real ComfyUI with this pack runs a shipped workflow
# headless and its PNG(s) are copied to ./output/.
#
#   bash tools/run_main.sh [workflow.json] [--size N] [--steps N] [--device cpu|gpu] [--out DIR]
#
#   MAGICMIX_CHECKPOINT  an SD checkpoint file to use; the workflow then runs with its own inputs, size
#                        and steps. Without it the run uses the demo-world model (assembled from
#                        demo_world/weights/ on first use, then cached): the workflow's settings on the
#                        demo's layout image and content prompt at 64x64, a batch of 4, each scored.
#                        --test-checkpoint uses the random-weight SD1.5 test checkpoint instead (CPU-sized:
#                        256x256, 20 steps unless --size / --steps are given).
# The arguments go to tools/run_workflow.py (--help lists them).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$REPO/tools/setup.sh"
CACHE="${MAGICMIX_CACHE:-$HOME/.cache/comfyui-magicmix}"
exec "$CACHE/venv/bin/python" "$REPO/tools/run_workflow.py" "$@"
