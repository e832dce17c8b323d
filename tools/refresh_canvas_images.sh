#!/usr/bin/env bash
# Refresh the README's canvas pictures, docs/images/<workflow>.png (one per shipped workflow).
#
#   bash tools/refresh_canvas_images.sh
#
# Runs the canvas tests (tests/browser/test_workflows_canvas.py) on the frontend ComfyUI pins: each
# shipped workflow is dropped on the canvas, checked, fitted to the window, and the graph's part of the
# screenshot is written to test-artifacts/canvas/. When they all pass, those pictures are copied to
# docs/images/; the tests themselves never write there. A few minutes on 2 cores.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${MAGICMIX_CACHE:-$HOME/.cache/comfyui-magicmix}"
CANVAS="$REPO/test-artifacts/canvas"

rm -rf "$CANVAS"  # only this run's pictures are copied
bash "$REPO/tools/setup.sh"
PINNED="$(cd "$REPO" && "$CACHE/venv/bin/python" -c 'from magicmix_dev import host; print(host.PINNED_FRONTEND)')"
bash "$REPO/tools/run_tests.sh" tests/browser/test_workflows_canvas.py -q \
  -k "test_workflow_loads_on_the_canvas and frontend-$PINNED"
mkdir -p "$REPO/docs/images"
cp -v "$CANVAS"/*.png "$REPO/docs/images/"
