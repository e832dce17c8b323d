"""Which model a layout was made for: a layout made with one model is refused by another."""
from __future__ import annotations

from ..magicmix_core import layout
from .validation import MagicMixInputError


def model_fingerprint(model) -> layout.ModelFingerprint:
    """Sampling type, sigma range, latent channels and format of a MODEL (as patched, e.g. by ModelSampling* nodes)."""
    model_sampling = model.get_model_object("model_sampling")
    sampling_type = "EPS"
    for name in ("CONST", "V_PREDICTION", "EDM", "X0", "IMG_TO_IMG", "EPS"):
        if any(base.__name__ == name for base in type(model_sampling).__mro__):
            sampling_type = name
            break
    latent_format = model.get_model_object("latent_format")
    return layout.ModelFingerprint(sampling_type, float(model_sampling.sigma_min), float(model_sampling.sigma_max),
                                   int(latent_format.latent_channels), type(latent_format).__name__)


def check_layout_fits(model, magicmix_layout: layout.MagicMixLayout, input_name: str = "layout") -> None:
    problem = magicmix_layout.model.mismatch(model_fingerprint(model))
    if problem:
        raise MagicMixInputError(f"{input_name}: {problem}; make the layout with the same model")
