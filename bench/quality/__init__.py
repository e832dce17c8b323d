"""The quality bench on the demo-world model: MagicMix against the alternatives, scored exactly.

``model`` loads the demo checkpoint in-process and its narrow twin; ``txt2img`` measures the model
itself; ``mixing`` runs MagicMix (the pack's own nodes) and the baselines (ComfyUI's own nodes) on
the same layout/content pairs and seeds; ``report`` writes bench/QUALITY.md; ``text_example`` draws
the README's text-layout picture. ``run`` is the command:

    bash tools/run_quality_bench.sh [--quick]
"""

from pathlib import Path

PACK_DIR = Path(__file__).resolve().parents[2]
