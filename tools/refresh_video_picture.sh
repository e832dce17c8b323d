#!/usr/bin/env bash
# Refresh docs/images/video_pipeline.png (docs/video.md): frames of the layout video and of the WAN video
# workflow's e2e output.
#
#   bash tools/refresh_video_picture.sh
#
# Runs the e2e test of workflows/magicmix_wan_video_layout.json (tests/e2e/test_workflows.py saves its
# video to test-artifacts/video/), then tools/video_picture.py. About a minute on 2 cores.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${MAGICMIX_CACHE:-$HOME/.cache/comfyui-magicmix}"

rm -f "$REPO/test-artifacts/video/magicmix_wan_video_layout.mp4"  # only this run's output is drawn
bash "$REPO/tools/run_tests.sh" tests/e2e/test_workflows.py -q \
  -k "test_workflow_runs_on_the_server_and_saves_its_images and magicmix_wan_video_layout"
"$CACHE/venv/bin/python" "$REPO/tools/video_picture.py"
