"""Faces (uint8) to model input, per the card's input spec."""
from __future__ import annotations

import numpy as np

from ..errors import ModelError
from .cards import InputSpec


def preprocess(images: np.ndarray, spec: InputSpec) -> np.ndarray:
    """uint8 faces (N,H,W) or (N,H,W,1) -> float32 model input (N,h,w,c) per the card."""
    x = np.asarray(images)
    if x.ndim == 2:
        x = x[None]
    if x.ndim == 4 and x.shape[-1] == 1:
        x = x[..., 0]
    if x.ndim != 3:
        raise ModelError(f"expected grayscale images (N,H,W), got shape {np.shape(images)}")
    x = x.astype(np.float32)
    if x.shape[1:] != (spec.height, spec.width):
        import tensorflow as tf

        x = tf.image.resize(x[..., None], (spec.height, spec.width), method="bilinear",
                            antialias=True).numpy()[..., 0]
    lo, hi = spec.scale
    x = x * ((hi - lo) / 255.0) + lo
    x = x[..., None]
    if spec.channels == 3:
        x = np.repeat(x, 3, axis=-1)
    return x
