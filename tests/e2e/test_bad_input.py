"""Bad prompts posted to the real server: each is refused with a message naming the node and the input,
and the server then still runs a good prompt to exactly the reference image.

Where ComfyUI allows it the refusal comes at validation (HTTP 400 from /prompt with ``node_errors``:
nothing runs); what can only be known from the data (a latent's channels or batch, the model a
layout was made for) is refused when the node runs, as an ``execution_error`` raised by the pack's
``MagicMixInputError`` before any sampling step.

The prompt is the small MagicMix graph of magicmix_dev/magicmix_prompt.py (64x64, 4 steps: one mix, one
content step); each case changes one thing in it. NaN and Infinity are posted as the JSON literals
Python's parser (and so ComfyUI's) accepts; a browser sends them as ``null``, which is a case too.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from collections.abc import Callable

import numpy as np
import pytest
from safetensors.numpy import save_file

from magicmix_dev.magicmix_prompt import image_pixels, magicmix_prompt
from magicmix_dev.server import execution_error, saved_images, submit, wait_until_done

STEPS = 4  # k_min 0.3 / k_max 0.6 -> levels 1 and 2: one mix and one content step
SD3_LATENT_FILE = "sd3_layout.latent"  # a 16-channel latent as an SD3 workflow's SaveLatent writes it


@dataclass(frozen=True)
class BadInput:
    name: str
    change: Callable[[dict], None]
    node: str  # the prompt's node id that must be named
    class_type: str
    says: tuple[str, ...]  # fragments the message must contain: the input's name and what is wrong
    at: str = "validation"  # or "execution"


def set_input(node: str, name: str, value) -> Callable[[dict], None]:
    return lambda prompt: prompt[node]["inputs"].__setitem__(name, value)


def drop_input(node: str, name: str) -> Callable[[dict], None]:
    return lambda prompt: prompt[node]["inputs"].pop(name)


def sd3_latent_into(node: str, name: str) -> Callable[[dict], None]:
    def change(prompt):
        prompt["sd3_latent"] = {"class_type": "LoadLatent", "inputs": {"latent": SD3_LATENT_FILE}}
        prompt[node]["inputs"][name] = ["sd3_latent", 0]
    return change


def layout_batch_of(images: int, batch_size: int) -> Callable[[dict], None]:
    def change(prompt):
        prompt["image"]["inputs"]["batch_size"] = images
        prompt["layout"]["inputs"]["batch_size"] = batch_size
    return change


def content_latent_batch_of(images: int) -> Callable[[dict], None]:
    """The content sampler gets an encoded batch of ``images`` while its layout has a batch of 1."""
    def change(prompt):
        prompt["other_image"] = {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64,
                                                                        "batch_size": images, "color": 0x3080E0}}
        prompt["other_encode"] = {"class_type": "VAEEncode", "inputs": {"pixels": ["other_image", 0],
                                                                        "vae": ["ckpt", 2]}}
        prompt["content"]["inputs"]["latent"] = ["other_encode", 0]
    return change


def patched_model_into(node: str, sampling: str, zsnr: bool) -> Callable[[dict], None]:
    """``node`` samples with a ModelSamplingDiscrete-patched model; the layout was made with the plain one."""
    def change(prompt):
        prompt["patched"] = {"class_type": "ModelSamplingDiscrete",
                             "inputs": {"model": ["ckpt", 0], "sampling": sampling, "zsnr": zsnr}}
        prompt[node]["inputs"]["model"] = ["patched", 0]
    return change


def all_in_one(**changes) -> Callable[[dict], None]:
    """The three nodes replaced by MagicMix (all in one) with the same settings, then ``changes``."""
    def change(prompt):
        layout, mix = prompt.pop("layout")["inputs"], prompt.pop("mix")["inputs"]
        prompt.pop("content")
        prompt["all"] = {"class_type": "MagicMix", "inputs": {
            **{name: layout[name] for name in ("model", "layout_latent", "seed", "steps", "scheduler", "k_min",
                                               "k_max", "batch_size")},
            **{name: mix[name] for name in ("positive", "negative", "cfg", "sampler_name", "nu")}, **changes}}
        prompt["decode"]["inputs"]["samples"] = ["all", 0]
    return change


def magicmix_sampler(**changes) -> Callable[[dict], None]:
    """The three nodes replaced by SamplerCustomAdvanced with the MagicMix SAMPLER, then ``changes``."""
    def change(prompt):
        layout = prompt.pop("layout")["inputs"]
        prompt.pop("mix"), prompt.pop("content")
        prompt.update({
            "select": {"class_type": "KSamplerSelect", "inputs": {"sampler_name": "euler"}},
            "magicmix_sampler": {"class_type": "MagicMixSampler", "inputs": {
                "sampler": ["select", 0], "k_min": layout["k_min"], "k_max": layout["k_max"], "nu": 0.75, **changes}},
            "noise": {"class_type": "RandomNoise", "inputs": {"noise_seed": layout["seed"]}},
            "guider": {"class_type": "CFGGuider", "inputs": {"model": ["ckpt", 0], "positive": ["positive", 0],
                                                             "negative": ["negative", 0], "cfg": 7.5}},
            "sigmas": {"class_type": "BasicScheduler", "inputs": {"model": ["ckpt", 0], "scheduler": "normal",
                                                                  "steps": STEPS, "denoise": 1.0}},
            "custom": {"class_type": "SamplerCustomAdvanced", "inputs": {
                "noise": ["noise", 0], "guider": ["guider", 0], "sampler": ["magicmix_sampler", 0],
                "sigmas": ["sigmas", 0], "latent_image": ["encode", 0]}},
        })
        prompt["decode"]["inputs"]["samples"] = ["custom", 0]
    return change


def empty_layout(prompt):
    prompt["empty"] = {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}}
    prompt["layout"]["inputs"]["layout_latent"] = ["empty", 0]


LAYOUT, MIX, CONTENT = "MagicMixLayoutNoise", "MagicMixInterpolatedSampler", "MagicMixConditionalSampler"

CASES = [
    # k range
    BadInput("k_min_above_k_max", set_input("layout", "k_min", 0.7), "layout", LAYOUT,
             ("k_min (0.7) must be smaller than k_max (0.6)",)),
    BadInput("k_min_equal_to_k_max", set_input("layout", "k_min", 0.6), "layout", LAYOUT,
             ("k_min (0.6) must be smaller than k_max (0.6)",)),
    BadInput("k_max_above_1", set_input("layout", "k_max", 1.5), "layout", LAYOUT,
             ("k_max must be a number within [0, 1], got 1.5",)),
    BadInput("k_min_below_0", set_input("layout", "k_min", -0.1), "layout", LAYOUT,
             ("k_min must be a number within [0, 1], got -0.1",)),
    # nu
    BadInput("nu_above_1", set_input("mix", "nu", 1.2), "mix", MIX, ("nu must be a number within [0, 1], got 1.2",)),
    BadInput("nu_below_0", set_input("mix", "nu", -0.5), "mix", MIX, ("nu must be a number within [0, 1], got -0.5",)),
    BadInput("nu_end_above_1", lambda p: p["mix"]["inputs"].update(nu_end=2.0, nu_schedule="linear"), "mix", MIX,
             ("nu_end must be a number within [0, 1], got 2.0",)),
    # steps
    BadInput("steps_too_few_for_k_range", set_input("layout", "steps", 2), "layout", LAYOUT,
             ("steps (2) is too small for k_min 0.3 and k_max 0.6",)),
    BadInput("steps_zero", set_input("layout", "steps", 0), "layout", LAYOUT,
             ("steps must be a whole number within [1, 10000], got 0",)),
    BadInput("steps_huge", set_input("layout", "steps", 10**9), "layout", LAYOUT,
             ("steps must be a whole number within [1, 10000], got 1000000000",)),
    # NaN and huge values
    BadInput("nu_nan", set_input("mix", "nu", math.nan), "mix", MIX, ("nu must be a number within [0, 1], got nan",)),
    BadInput("k_max_nan_as_text", set_input("layout", "k_max", "nan"), "layout", LAYOUT,
             ("k_max must be a number within [0, 1], got nan",)),
    BadInput("cfg_nan", set_input("mix", "cfg", math.nan), "mix", MIX,
             ("cfg must be a number within [0, 100], got nan",)),
    BadInput("content_cfg_infinite", set_input("content", "cfg", math.inf), "content", CONTENT,
             ("cfg must be a number within [0, 100], got inf",)),
    BadInput("layout_cfg_nan", set_input("layout", "layout_cfg", math.nan), "layout", LAYOUT,
             ("layout_cfg must be a number within [0, 100], got nan",)),
    BadInput("seed_huge", set_input("layout", "seed", 2**70), "layout", LAYOUT, ("bigger than max", "seed")),
    BadInput("batch_size_zero", set_input("layout", "batch_size", 0), "layout", LAYOUT,
             ("smaller than min", "batch_size")),
    # missing inputs
    BadInput("k_min_missing", drop_input("layout", "k_min"), "layout", LAYOUT, ("Required input is missing", "k_min")),
    BadInput("layout_link_missing", drop_input("mix", "layout"), "mix", MIX, ("Required input is missing", "layout")),
    # wrongly typed inputs
    BadInput("k_max_not_a_number", set_input("layout", "k_max", "abc"), "layout", LAYOUT,
             ("k_max must be a number within [0, 1], got 'abc'",)),
    BadInput("steps_not_a_number", set_input("layout", "steps", "ten"), "layout", LAYOUT,
             ("steps must be a whole number within [1, 10000], got 'ten'",)),
    BadInput("nu_null_as_a_browser_sends_nan", set_input("mix", "nu", None), "mix", MIX,
             ("Failed to convert an input value to a FLOAT value", "nu, None")),
    BadInput("latent_linked_into_layout_socket", set_input("mix", "layout", ["encode", 0]), "mix", MIX,
             ("layout, received_type(LATENT) mismatch input_type(MAGICMIX_LAYOUT)",)),
    BadInput("unknown_scheduler", set_input("layout", "scheduler", "nope"), "layout", LAYOUT,
             ("scheduler: 'nope' is not one of", "normal")),
    BadInput("unknown_sampler", set_input("content", "sampler_name", "nope"), "content", CONTENT,
             ("sampler_name: 'nope' is not one of", "euler")),
    BadInput("unknown_nu_schedule", set_input("mix", "nu_schedule", "nope"), "mix", MIX,
             ("nu_schedule: 'nope' is not one of constant, linear, cosine",)),
    # the one-node forms
    BadInput("all_in_one_k_min_above_k_max", all_in_one(k_min=0.7), "all", "MagicMix",
             ("k_min (0.7) must be smaller than k_max (0.6)",)),
    BadInput("all_in_one_steps_huge", all_in_one(steps=10**9), "all", "MagicMix",
             ("steps must be a whole number within [1, 10000], got 1000000000",)),
    BadInput("all_in_one_cfg_nan", all_in_one(cfg=math.nan), "all", "MagicMix",
             ("cfg must be a number within [0, 100], got nan",)),
    BadInput("magicmix_sampler_nu_nan", magicmix_sampler(nu=math.nan), "magicmix_sampler", "MagicMixSampler",
             ("nu must be a number within [0, 1], got nan",)),
    BadInput("magicmix_sampler_k_max_above_1", magicmix_sampler(k_max=2.0), "magicmix_sampler", "MagicMixSampler",
             ("k_max must be a number within [0, 1], got 2.0",)),
    # refused when the node runs: only the data tells
    BadInput("sd3_latent_into_sd15_model", sd3_latent_into("layout", "layout_latent"), "layout", LAYOUT,
             ("layout_latent: the latent has 16 channels but this model uses 4",), at="execution"),
    BadInput("sd3_latent_into_content_sampler", sd3_latent_into("content", "latent"), "content", CONTENT,
             ("latent: shape (1, 16, 8, 8) does not match the layout's (1, 4, 8, 8)",), at="execution"),
    BadInput("layout_batch_2_with_batch_size_3", layout_batch_of(2, 3), "layout", LAYOUT,
             ("batch_size: a layout batch of 2 cannot be paired with batch_size 3",), at="execution"),
    BadInput("content_batch_2_with_layout_batch_1", content_latent_batch_of(2), "content", CONTENT,
             ("latent: shape (2, 4, 8, 8) does not match the layout's (1, 4, 8, 8)",), at="execution"),
    BadInput("layout_for_eps_into_v_prediction_sampler", patched_model_into("mix", "v_prediction", False), "mix", MIX,
             ("layout: the layout was made for a EPS model, this model is V_PREDICTION",), at="execution"),
    BadInput("layout_for_other_schedule_into_content_sampler", patched_model_into("content", "eps", True), "content",
             CONTENT, ("layout: the layout's sigma_max is", "(a different noise schedule)"), at="execution"),
    BadInput("empty_layout_latent", empty_layout, "layout", LAYOUT,
             ("layout_latent: the latent is empty (all zeros)",), at="execution"),
]


@pytest.fixture(scope="module")
def sd3_latent(comfy_server) -> str:
    """A non-zero 16-channel latent file in the server's input folder, for LoadLatent."""
    samples = np.random.default_rng(0).standard_normal((1, 16, 8, 8)).astype(np.float32)
    save_file({"latent_tensor": samples, "latent_format_version_0": np.zeros(0, np.float32)},
              str(comfy_server.input_dir / SD3_LATENT_FILE))
    return SD3_LATENT_FILE


@pytest.fixture(scope="module")
def reference_pixels(comfy_server) -> np.ndarray:
    """The good prompt's image, made once before any bad prompt."""
    return good_run_pixels(comfy_server, "bad_input_reference")


def good_run_pixels(server, prefix: str) -> np.ndarray:
    images = saved_images(server.run_prompt(magicmix_prompt(prefix, steps=STEPS)))
    assert len(images) == 1, images
    pixels = image_pixels(server.output_file(images[0]))
    assert pixels.shape == (64, 64, 3) and pixels.std() > 1, "the good prompt decoded to a flat image"
    return pixels


def refusal_messages(body: dict, node: str) -> list[str]:
    return [f"{error.get('message')}: {error.get('details')}" for error in body["node_errors"][node]["errors"]]


def test_the_matrix_covers_every_kind_of_bad_input():
    assert len(CASES) >= 30 and len({case.name for case in CASES}) == len(CASES)
    assert {case.at for case in CASES} == {"validation", "execution"}


@pytest.mark.parametrize("one_node_form", [all_in_one(), magicmix_sampler()], ids=["all_in_one", "magicmix_sampler"])
def test_the_one_node_forms_of_the_good_prompt_run(comfy_server, one_node_form):
    """The graphs the one-node cases change are good as they are: only the changed input is refused."""
    prompt = magicmix_prompt("one_node_form", steps=STEPS)
    one_node_form(prompt)
    assert len(saved_images(comfy_server.run_prompt(prompt))) == 1


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_bad_input_is_refused_naming_node_and_input_then_the_server_still_serves(comfy_server, sd3_latent,
                                                                                 reference_pixels, case):
    prefix = f"bad_{case.name}"
    prompt = magicmix_prompt(prefix, steps=STEPS)
    case.change(prompt)
    response = submit(comfy_server.url, prompt)

    if case.at == "validation":
        assert response.status_code == 400, f"accepted: {response.text[:500]}"
        body = response.json()
        assert set(body["node_errors"]) == {case.node}, body["node_errors"]
        assert body["node_errors"][case.node]["class_type"] == case.class_type
        messages = refusal_messages(body, case.node)
        assert any(all(fragment in message for fragment in case.says) for message in messages), messages
    else:
        assert response.status_code == 200, response.text[:500]
        error = execution_error(wait_until_done(comfy_server.url, response.json()["prompt_id"]))
        assert error is not None, "the prompt ran to the end"
        assert (error["node_id"], error["node_type"]) == (case.node, case.class_type), error
        assert error["exception_type"].endswith("MagicMixInputError"), error["exception_type"]
        assert all(fragment in error["exception_message"] for fragment in case.says), error["exception_message"]

    assert not list(comfy_server.output_dir.glob(f"{prefix}_*")), "the refused prompt saved an image"
    # Still serving: the next good prompt (its samplers really run again) gives the reference image.
    assert np.array_equal(good_run_pixels(comfy_server, f"after_{case.name}"), reference_pixels)
