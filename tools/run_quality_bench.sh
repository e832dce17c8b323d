#!/usr/bin/env bash
# The quality bench on the demo-world model: MagicMix against img2img, prompt switching, embedding
# averaging and the community pipeline's order; writes bench/QUALITY.md and docs/images/quality_grid.png.
#
#   bash tools/run_quality_bench.sh            # full run: 24 pairs x 3 seeds (~40-55 min on 2 cores)
#   bash tools/run_quality_bench.sh --quick    # 8 pairs, 1 seed, a few rows, into test-artifacts/quality-quick/
set -euo pipefail
PACK_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$PACK_DIR/tools/setup.sh"
CACHE="${MAGICMIX_CACHE:-$HOME/.cache/comfyui-magicmix}"
cd "$PACK_DIR"
exec "$CACHE/venv/bin/python" -m bench.quality.run "$@"
