"""Cancel (POST /interrupt, what the queue's Cancel button sends) during each MagicMix phase on the real server.

The run must stop within a step or two, the server must keep serving, its next run must give
exactly the reference image, and an image saved before must be untouched.

The phase is found from the websocket's ``progress`` messages, which name the node that is
sampling: the interrupt is posted right after the phase's first step. Both prompts use a 16x16
latent (the encoded 64x64 layout upscaled) so a step takes long enough to see, and put most steps
in the phase under test: the layout phase test mixes 11 of 20 steps (k 0.05..0.6), the content
phase test mixes one step and has 10 content steps (k 0.5..0.55).

The measured latency (interrupt -> ``execution_interrupted``) and the steps reported after the
interrupt go to test-artifacts/cancel_latency.json.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
import requests

from magicmix_dev.magicmix_prompt import ServerEvents, file_sha256, image_pixels, magicmix_prompt
from magicmix_dev.server import saved_images

PACK_DIR = Path(__file__).resolve().parents[2]
RESULTS_FILE = PACK_DIR / "test-artifacts" / "cancel_latency.json"

REFERENCE_STEPS = 4
LATENT_PIXELS = 128  # a 16x16 latent
PHASES = {
    # node id in magicmix_prompt -> settings that make that phase the long one
    "mix": dict(steps=20, k_min=0.05, k_max=0.6),  # levels 1..12: 11 mixes, then 1 content step
    "content": dict(steps=20, k_min=0.5, k_max=0.55),  # levels 10..11: 1 mix, then 10 content steps
}
UPSTREAM = {"mix": "layout", "content": "mix"}  # the node that must have finished before the phase
MAX_STEPS_AFTER_INTERRUPT = 1  # the step in flight when the interrupt lands may still report
FINISH_TIMEOUT_S = 600

measured: dict[str, dict] = {}


@pytest.fixture(scope="module")
def earlier_image(comfy_server) -> tuple[Path, str, np.ndarray]:
    """A reference image saved before any cancel: its file, the file's hash and its pixels."""
    images = saved_images(comfy_server.run_prompt(magicmix_prompt("cancel_reference", steps=REFERENCE_STEPS)))
    path = comfy_server.output_file(images[0])
    pixels = image_pixels(path)
    assert pixels.std() > 1, "the reference decoded to a flat image"
    yield path, file_sha256(path), pixels
    RESULTS_FILE.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_FILE.write_text(json.dumps(measured, indent=2) + "\n")


def queue_empties(base_url: str, timeout_s: float = 10) -> bool:
    # execution_interrupted is sent from inside the run; the queue drops the prompt just after.
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        queue = requests.get(f"{base_url}/queue", timeout=30).json()
        if queue["queue_running"] == [] and queue["queue_pending"] == []:
            return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize("phase", list(PHASES), ids=["layout_phase", "content_phase"])
def test_cancel_stops_within_a_step_and_the_server_carries_on(comfy_server, earlier_image, phase):
    earlier_path, earlier_hash, reference = earlier_image
    prefix = f"cancelled_{phase}"
    prompt = magicmix_prompt(prefix, latent_size=LATENT_PIXELS, **PHASES[phase])

    with ServerEvents(comfy_server.url) as events:
        prompt_id = events.queue(prompt)
        started, _, _ = events.wait_for(lambda kind, data: kind == "executing" and data.get("node") == phase
                                        and data.get("prompt_id") == prompt_id, FINISH_TIMEOUT_S)
        first_step, _, progress = events.wait_for(lambda kind, data: kind == "progress" and data.get("node") == phase
                                                  and data.get("prompt_id") == prompt_id, FINISH_TIMEOUT_S)
        interrupted_at = time.monotonic()
        requests.post(f"{comfy_server.url}/interrupt", json={"prompt_id": prompt_id}, timeout=30).raise_for_status()
        ended, kind, data = events.wait_for(
            lambda kind, data: kind in ("execution_interrupted", "execution_success", "execution_error")
            and data.get("prompt_id") == prompt_id, FINISH_TIMEOUT_S)
        steps_after = [m[2]["value"] for m in events.of_prompt(prompt_id)
                       if m[1] == "progress" and m[2].get("node") == phase and m[0] > interrupted_at]

    step_s = first_step - started  # the phase's first step (with its set-up): what one step costs here
    latency_s = ended - interrupted_at
    measured[phase] = {"latency_s": round(latency_s, 3), "first_step_s": round(step_s, 3),
                       "steps_reported_after_interrupt": len(steps_after), "phase_steps": progress["max"],
                       "interrupted_after_step": progress["value"]}
    assert kind == "execution_interrupted", f"{kind}: {data}"
    assert data["node_id"] == phase and UPSTREAM[phase] in data["executed"], data
    assert progress["value"] < progress["max"] - 1, "the interrupt came too late to show anything"
    assert len(steps_after) <= MAX_STEPS_AFTER_INTERRUPT, measured[phase]
    # The step in flight finishes, then the run stops: allow two steps and the HTTP round trips.
    assert latency_s <= 2 * step_s + 2.0, measured[phase]

    assert queue_empties(comfy_server.url), "the cancelled prompt stayed in the queue"
    assert not list(comfy_server.output_dir.glob(f"{prefix}_*")), "the cancelled run saved an image"

    images = saved_images(comfy_server.run_prompt(magicmix_prompt(f"after_cancel_{phase}", steps=REFERENCE_STEPS)))
    assert np.array_equal(image_pixels(comfy_server.output_file(images[0])), reference)
    assert earlier_path.is_file() and file_sha256(earlier_path) == earlier_hash
