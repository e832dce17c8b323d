"""The three nodes on video models: WAN 2.1 T2V / I2V, WAN 2.2 TI2V 5B, Hunyuan Video, LTXV (5-D latents).

Each family is its real ComfyUI model class with a tiny random network (magicmix_dev/tiny_video_models.py);
the references are ComfyUI's own KSamplerAdvanced runs on the same latents and conditioning. The I2V
conditioning and the start-image latents come from ComfyUI's own nodes (WanImageToVideo,
Wan22ImageToVideoLatent, LTXVImgToVideo) with tiny VAEs. Latents are 3 frames of 4 x 4 cells, 8 steps.
"""
import pytest
import torch

from magicmix_dev.comparisons import assert_close_relative, relative_error
from magicmix_dev import tiny_video_models

TOTAL_STEPS = 8
K_MIN, K_MAX = 0.25, 0.75
K_MIN_LEVEL, K_MAX_LEVEL = 2, 6  # round-half-up of 0.25 * 8 and 0.75 * 8, written out
CFG = 3.0
SEED = 5
NU = 0.6
RELATIVE_TOLERANCE = 1e-5  # float32 rounding of the same operations in another order (measured <= 1e-6)
OUTSIDE_BOUND = 1e-5  # a kept latent cell is the layout's up to float rounding (relative to the latent's scale)
FRAMES, SIDE = 3, 4  # latent frames and cells a side
LAYOUT_PROMPT_SEED = 100
START_IMAGE_SEED = 3


@pytest.fixture(scope="module")
def nodes(comfy_host):
    return comfy_host.NODE_CLASS_MAPPINGS


@pytest.fixture(scope="module")
def wan21_vae(comfy_host):
    return tiny_video_models.tiny_wan21_vae()


def start_image(tiny, frames: int = 1):
    side = SIDE * tiny.pixel_ratio
    return torch.rand((frames, side, side, 3), generator=torch.Generator().manual_seed(START_IMAGE_SEED))


class Case:
    """A family's model with its content, negative and layout conditioning."""

    def __init__(self, tiny, positive, negative, layout_positive):
        self.tiny, self.model = tiny, tiny.model
        self.positive, self.negative, self.layout_positive = positive, negative, layout_positive


@pytest.fixture(scope="module", params=list(tiny_video_models.TINY_VIDEO_FAMILIES))
def case(request, nodes, wan21_vae):
    tiny = tiny_video_models.TINY_VIDEO_FAMILIES[request.param]()
    layout_positive = tiny.conditioning(LAYOUT_PROMPT_SEED)
    if tiny.name != "wan21_i2v":
        return Case(tiny, tiny.positive, tiny.negative, layout_positive)
    # I2V: the start image reaches the model as WanImageToVideo puts it in the conditioning.
    side = SIDE * tiny.pixel_ratio
    wan_i2v = nodes["WanImageToVideo"]

    def with_start_image(positive, negative):
        return wan_i2v.execute(positive, negative, wan21_vae, side, side, tiny.video_length(FRAMES), 1,
                               start_image=start_image(tiny)).result[:2]

    positive, negative = with_start_image(tiny.positive, tiny.negative)
    layout_positive, _ = with_start_image(layout_positive, tiny.negative)
    assert "concat_latent_image" in positive[0][1] and "concat_mask" in positive[0][1]
    return Case(tiny, positive, negative, layout_positive)


def layout_video(case, batch=1):
    return case.tiny.latent(FRAMES, SIDE, SIDE, batch=batch, seed=1)


def run(nodes, case, latent, nu=NU, batch_size=1, mask=None, text=False, seed=SEED):
    """The three nodes chained; returns (layout, layout phase LATENT, final LATENT)."""
    extra = dict(layout_positive=case.layout_positive, layout_negative=case.negative) if text else {}
    layout = nodes["MagicMixLayoutNoise"].execute(case.model, latent, seed, TOTAL_STEPS, "normal", K_MIN, K_MAX,
                                                  batch_size, CFG, "euler", mask=mask, **extra).result[0]
    mixed = nodes["MagicMixInterpolatedSampler"].execute(case.model, layout, case.positive, case.negative, CFG,
                                                         "euler", nu).result[0]
    final = nodes["MagicMixConditionalSampler"].execute(case.model, layout, mixed, case.positive, case.negative, CFG,
                                                        "euler").result[0]
    return layout, mixed, final


def ksampler_advanced(nodes, model, positive, negative, latent, start, end, add_noise=True, leftover=False):
    return nodes["KSamplerAdvanced"]().sample(model, "enable" if add_noise else "disable", SEED, TOTAL_STEPS, CFG,
                                              "euler", "normal", positive, negative, latent, start, end,
                                              "enable" if leftover else "disable")[0]["samples"]


def img2img_from_k_max(nodes, case, latent):
    """KSamplerAdvanced img2img from step T - K_max: the nu = 1 reference of image layout."""
    return ksampler_advanced(nodes, case.model, case.positive, case.negative, latent, TOTAL_STEPS - K_MAX_LEVEL,
                             TOTAL_STEPS)


def test_nu_one_is_ksampler_advanced_img2img_from_k_max(nodes, case):
    latent = layout_video(case)
    _, _, final = run(nodes, case, latent, nu=1.0)
    assert final["samples"].shape == (1, case.tiny.latent_channels, FRAMES, SIDE, SIDE)
    assert_close_relative(final["samples"], img2img_from_k_max(nodes, case, latent), RELATIVE_TOLERANCE)


def test_image_layout_at_nu_zero_lands_on_the_noised_layout_at_k_min(nodes, case):
    import comfy.sample
    latent = layout_video(case)
    layout, at_k_min, _ = run(nodes, case, latent, nu=0.0)
    model, sigma = case.model, layout.sigma_at_level(K_MIN_LEVEL)
    model_sampling = model.get_model_object("model_sampling")
    noise = comfy.sample.prepare_noise(latent["samples"], SEED)
    noised = model_sampling.noise_scaling(sigma, noise, model.model.process_latent_in(latent["samples"]))
    expected = model.model.process_latent_out(model_sampling.inverse_noise_scaling(sigma, noised))
    assert_close_relative(at_k_min["samples"], expected, RELATIVE_TOLERANCE)
    # The content prompt has a say at nu = 0.6, so the same comparison fails there.
    _, mixed, _ = run(nodes, case, latent, nu=NU)
    assert relative_error(mixed["samples"], expected) > 100 * RELATIVE_TOLERANCE


def test_text_layout_at_nu_one_is_the_two_chained_ksampler_advanced(nodes, case):
    empty = case.tiny.empty_latent(FRAMES, SIDE, SIDE)
    _, _, final = run(nodes, case, empty, nu=1.0, text=True)
    branch = ksampler_advanced(nodes, case.model, case.layout_positive, case.negative, empty, 0,
                               TOTAL_STEPS - K_MAX_LEVEL, leftover=True)
    expected = ksampler_advanced(nodes, case.model, case.positive, case.negative, {"samples": branch},
                                 TOTAL_STEPS - K_MAX_LEVEL, TOTAL_STEPS, add_noise=False)
    assert_close_relative(final["samples"], expected, RELATIVE_TOLERANCE)


def test_batch_two_of_one_layout_video_is_two_videos_along_the_batch(nodes, case):
    latent = layout_video(case)
    _, _, final = run(nodes, case, latent, nu=1.0, batch_size=2)
    assert final["samples"].shape == (2, case.tiny.latent_channels, FRAMES, SIDE, SIDE)
    repeated = {"samples": latent["samples"].repeat(2, 1, 1, 1, 1)}
    assert_close_relative(final["samples"], img2img_from_k_max(nodes, case, repeated), RELATIVE_TOLERANCE)
    # each item has its own noise: two different videos, not one video of twice the frames
    assert relative_error(final["samples"][1], final["samples"][0]) > 1e-2


def spatial_mask():
    """A MASK at latent resolution: mix the left half of every frame, keep the right half."""
    mask = torch.zeros((1, SIDE, SIDE))
    mask[..., : SIDE // 2] = 1.0
    return mask, (Ellipsis, slice(SIDE // 2, None)), (Ellipsis, slice(None, SIDE // 2))


def per_frame_mask():
    """A batch of one MASK per latent frame (as SetLatentNoiseMask gives a video): keep frame 0, mix the rest."""
    mask = torch.ones((FRAMES, SIDE, SIDE))
    mask[0] = 0.0
    return mask, (slice(None), slice(None), slice(0, 1)), (slice(None), slice(None), slice(1, None))


@pytest.mark.parametrize("make_mask", [spatial_mask, per_frame_mask], ids=["spatial", "per_frame"])
def test_a_mask_keeps_the_layout_video_outside(nodes, case, make_mask):
    mask, kept, mixed = make_mask()
    latent = layout_video(case)
    _, _, final = run(nodes, case, latent, mask=mask)
    layout_samples = latent["samples"]
    scale = max(1.0, layout_samples.abs().max().item())
    outside = (final["samples"][kept] - layout_samples[kept]).abs().max().item()
    assert outside <= OUTSIDE_BOUND * scale, f"outside the mask {outside:.3g} from the layout video"
    inside = (final["samples"][mixed] - layout_samples[mixed]).abs().max().item()
    assert inside > 0.1, f"inside the mask the result is still the layout ({inside:.3g})"
    # and KSamplerAdvanced reads the same mask the same way (nu = 1)
    masked = nodes["SetLatentNoiseMask"]().set_mask(latent, mask)[0]
    _, _, at_nu_one = run(nodes, case, latent, nu=1.0, mask=mask)
    assert_close_relative(at_nu_one["samples"], img2img_from_k_max(nodes, case, masked), RELATIVE_TOLERANCE)


def test_every_step_of_a_5d_run_gives_a_preview(nodes, case, monkeypatch):
    import comfy.cli_args
    import comfy.utils
    import latent_preview
    monkeypatch.setattr(comfy.cli_args.args, "preview_method", latent_preview.LatentPreviewMethod.Latent2RGB)
    previews = []

    def hook(value, total, preview_image, prompt_id=None, node_id=None):
        previews.append((value, total, preview_image))

    monkeypatch.setattr(comfy.utils, "PROGRESS_BAR_HOOK", hook)
    run(nodes, case, layout_video(case))
    # layout phase K_max - K_min steps, content phase K_min steps; each with its preview image
    assert [value for value, _, _ in previews] == list(range(1, K_MAX_LEVEL - K_MIN_LEVEL + 1)) + list(
        range(1, K_MIN_LEVEL + 1))
    for _, _, preview in previews:
        assert preview is not None and preview[1].size[0] >= SIDE


@pytest.mark.parametrize("phase", ["MagicMixInterpolatedSampler", "MagicMixConditionalSampler"])
def test_cancel_on_a_5d_run_stops_within_the_step_and_the_next_run_is_whole(nodes, case, phase, monkeypatch):
    """Cancel (the queue's button sets ComfyUI's interrupt flag) while the first model call of each phase runs:
    the step ends, no further model call starts, and the next run gives what an uncancelled one gives. The
    progress hook is the server's (main.py's checks the flag at every step's progress report); the real
    server's Cancel is tests/e2e/test_cancel.py's, on image latents."""
    import comfy.model_management
    import comfy.utils
    calls = {"phase": None, "count": 0, "at_interrupt": None}

    def server_progress_hook(value, total, preview_image, prompt_id=None, node_id=None):
        comfy.model_management.throw_exception_if_processing_interrupted()

    monkeypatch.setattr(comfy.utils, "PROGRESS_BAR_HOOK", server_progress_hook)

    def counting(apply_model, args):
        calls["count"] += 1
        output = apply_model(args["input"], args["timestep"], **args["c"])
        if calls["phase"] == phase and calls["at_interrupt"] is None:  # the phase's first model call ends
            calls["at_interrupt"] = calls["count"]
            comfy.model_management.interrupt_current_processing(True)
        return output

    model = case.model.clone()
    model.set_model_unet_function_wrapper(counting)
    layout = nodes["MagicMixLayoutNoise"].execute(model, layout_video(case), SEED, TOTAL_STEPS, "normal", K_MIN,
                                                  K_MAX, 1, CFG, "euler").result[0]
    mixed = nodes["MagicMixInterpolatedSampler"].execute(case.model, layout, case.positive, case.negative, CFG,
                                                         "euler", NU).result[0]
    args = {"MagicMixInterpolatedSampler": (model, layout, case.positive, case.negative, CFG, "euler", NU),
            "MagicMixConditionalSampler": (model, layout, mixed, case.positive, case.negative, CFG, "euler")}[phase]
    calls["phase"] = phase
    try:
        with pytest.raises(comfy.model_management.InterruptProcessingException):
            nodes[phase].execute(*args)
    finally:
        comfy.model_management.interrupt_current_processing(False)
    assert calls["at_interrupt"] is not None and calls["count"] == calls["at_interrupt"], \
        f"{calls['count'] - calls['at_interrupt']} model calls after the interrupt"
    # the flag was consumed: the same node runs whole again, equal to a run that was never cancelled
    calls["phase"] = None
    again = nodes[phase].execute(*args).result[0]["samples"]
    plain = nodes[phase].execute(case.model, *args[1:]).result[0]["samples"]
    assert torch.equal(again, plain)


def test_a_content_latent_of_another_frame_count_or_size_is_refused_naming_the_input(nodes, case):
    layout = nodes["MagicMixLayoutNoise"].execute(case.model, layout_video(case), SEED, TOTAL_STEPS, "normal", K_MIN,
                                                  K_MAX, 1, CFG, "euler").result[0]
    for frames, side in ((FRAMES + 1, SIDE), (FRAMES, SIDE * 2)):
        other = case.tiny.latent(frames, side, side)
        with pytest.raises(ValueError, match=r"^latent: shape .* does not match the layout's"):
            nodes["MagicMixConditionalSampler"].execute(case.model, layout, other, case.positive, case.negative,
                                                        CFG, "euler")


def test_a_4d_image_latent_is_refused_naming_the_input_unless_it_reads_as_one_frame(nodes, case):
    image_latent = {"samples": torch.randn((1, 4, SIDE, SIDE), generator=torch.Generator().manual_seed(2))}
    with pytest.raises(ValueError, match=r"^layout_latent: the latent has 4 channels but this model uses"):
        nodes["MagicMixLayoutNoise"].execute(case.model, image_latent, SEED, TOTAL_STEPS, "normal", K_MIN, K_MAX, 1,
                                             CFG, "euler")
    # With the model's channels a 4-D latent is one frame, as ComfyUI's samplers read it (the plain
    # prompts: an I2V conditioning made for 3 frames fails in the model on 1 frame, in KSampler too).
    plain = Case(case.tiny, case.tiny.positive, case.tiny.negative, case.layout_positive)
    one_frame = {"samples": case.tiny.latent(1, SIDE, SIDE)["samples"][:, :, 0]}
    _, _, final = run(nodes, plain, one_frame, nu=1.0)
    assert final["samples"].shape == (1, case.tiny.latent_channels, 1, SIDE, SIDE)
    assert_close_relative(final["samples"], img2img_from_k_max(nodes, plain, one_frame), RELATIVE_TOLERANCE)


# --- start-image latents: the 5-D noise mask written by the video nodes --------------------------

def wan22_start_image_latent(nodes, tiny, batch):
    vae = tiny_video_models.tiny_wan22_vae()
    side = SIDE * tiny.pixel_ratio
    return nodes["Wan22ImageToVideoLatent"].execute(vae, side, side, tiny.video_length(FRAMES), batch,
                                                    start_image=start_image(tiny)).result[0]


def ltxv_start_image_latent(nodes, tiny, batch):
    vae = tiny_video_models.tiny_ltxv_vae()
    side = SIDE * tiny.pixel_ratio
    _, _, latent = nodes["LTXVImgToVideo"].execute(tiny.positive, tiny.negative, start_image(tiny), vae, side, side,
                                                   tiny.video_length(FRAMES), batch, 1.0).result
    return latent


START_IMAGE_LATENTS = {"wan22_ti2v": wan22_start_image_latent, "ltxv": ltxv_start_image_latent}


@pytest.mark.parametrize("batch", [1, 2])
@pytest.mark.parametrize("family", list(START_IMAGE_LATENTS))
def test_a_start_image_latent_keeps_its_start_frame_as_ksampler_does(nodes, family, batch):
    tiny = tiny_video_models.TINY_VIDEO_FAMILIES[family]()
    case = Case(tiny, tiny.positive, tiny.negative, tiny.conditioning(LAYOUT_PROMPT_SEED))
    latent = START_IMAGE_LATENTS[family](nodes, tiny, batch)
    assert latent["noise_mask"].ndim == 5 and latent["noise_mask"].shape[0] == batch
    start_frame = latent["samples"][:, :, 0]
    reference = img2img_from_k_max(nodes, case, latent)
    start_bound = OUTSIDE_BOUND * start_frame.abs().max().item()
    assert (reference[:, :, 0] - start_frame).abs().max().item() <= start_bound

    # Both families take per-frame timesteps from the denoise mask their model is handed: frame 0 at 0.
    masks_seen = []
    watched = Case(tiny, case.positive, case.negative, case.layout_positive)
    watched.model = tiny.model.clone()

    def wrapper(apply_model, args):
        masks_seen.append(args["c"]["denoise_mask"])
        return apply_model(args["input"], args["timestep"], **args["c"])

    watched.model.set_model_unet_function_wrapper(wrapper)
    _, _, final = run(nodes, watched, latent, nu=1.0)
    assert len(masks_seen) == K_MAX_LEVEL
    for mask in masks_seen:
        assert mask.ndim == 5 and not mask[:, :, 0].any() and bool((mask[:, :, 1:] == 1).all())
    assert_close_relative(final["samples"], reference, RELATIVE_TOLERANCE)
    assert torch.equal(final["noise_mask"], latent["noise_mask"]), "the output LATENT keeps the 5-D mask"
    # The SamplerCustomAdvanced path: the MagicMix sampler reads the LATENT's mask through ComfyUI.
    sampler = nodes["MagicMixSampler"].execute(nodes["KSamplerSelect"].execute("euler").result[0],
                                               K_MIN, K_MAX, 1.0).result[0]
    sigmas = nodes["BasicScheduler"].execute(case.model, "normal", TOTAL_STEPS, 1.0).result[0]
    guider = nodes["CFGGuider"].execute(case.model, case.positive, case.negative, CFG).result[0]
    custom = nodes["SamplerCustomAdvanced"].execute(nodes["RandomNoise"].execute(SEED).result[0], guider, sampler,
                                                    sigmas, latent).result[0]
    assert_close_relative(custom["samples"], reference, RELATIVE_TOLERANCE)
    # mixing at nu < 1 still keeps the start frame
    _, _, mixed = run(nodes, case, latent, nu=NU)
    assert (mixed["samples"][:, :, 0] - start_frame).abs().max().item() <= start_bound
    # Text layout reads the mask alike: outside it (frame 0) the layout prompt's own video is kept.
    empty = {**latent, "samples": torch.zeros_like(latent["samples"])}
    _, _, text_final = run(nodes, case, empty, nu=NU, text=True)
    own = ksampler_advanced(nodes, case.model, case.layout_positive, case.negative,
                            {"samples": empty["samples"]}, 0, TOTAL_STEPS)
    assert (text_final["samples"][:, :, 0] - own[:, :, 0]).abs().max().item() <= OUTSIDE_BOUND * own.abs().max().item()
    assert (text_final["samples"][:, :, 1:] - own[:, :, 1:]).abs().max().item() > 0.1
