#!/usr/bin/env bash
# Train world v2's demo model (the TAESD decoder, then the UNet) into OUT, resumable: run it again to go on.
#
#   bash tools/train_demo_world.sh OUT                      # CUDA where torch sees one, else the CPU
#   bash tools/train_demo_world.sh OUT --minutes 10         # stop (and save) both within about 10 minutes
#
# One recipe on either device (docs/demo_world.md): decoder 3,000 steps of batch 8, UNet 20,000 steps of
# batch 32, so that a GPU run and a CPU run differ only in their random streams (the same quality, not the
# same bits). Set PYTHON to a Python with torch and ComfyUI's imports where the set-up's venv is absent
# (COMFYUI_PATH: the ComfyUI folder).
set -euo pipefail
PACK_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${1:?usage: bash tools/train_demo_world.sh OUT [--minutes M]}"
shift
MINUTES=""
if [ "${1:-}" = "--minutes" ]; then MINUTES="${2:?--minutes needs a number}"; fi
PYTHON="${PYTHON:-${MAGICMIX_CACHE:-$HOME/.cache/comfyui-magicmix}/venv/bin/python}"
mkdir -p "$OUT"
cd "$PACK_DIR"
decoder_budget=() unet_budget=()
if [ -n "$MINUTES" ]; then
  # a fifth of the time to the decoder: it is the smaller net and the shorter run
  decoder_budget=(--minutes "$(awk "BEGIN {print $MINUTES / 5}")")
  unet_budget=(--minutes "$(awk "BEGIN {print $MINUTES * 4 / 5}")")
fi
"$PYTHON" -m demo_world.train_decoder --world v2 --steps 3000 --threads 2 --save-every 250 --log-every 100 \
  --weights "$OUT/taesd_decoder.safetensors" --state "$OUT/decoder-state.pt" "${decoder_budget[@]}"
"$PYTHON" -m demo_world.train_unet --world v2 --steps 20000 --threads 2 --save-every 250 --log-every 100 \
  --weights "$OUT/unet.safetensors" --state "$OUT/unet-state.pt" "${unet_budget[@]}"
