"""Model-parameter randomisation checks of attribution maps.

* **Cascade** (Adebayo et al. 2018, "Sanity checks for saliency maps"): the weights are
  re-initialised from the top (output) down, one *stage* at a time; a stage is a layer with weights
  together with the batch normalisations that directly follow it (conv + its BN, dense + its BN),
  so VGG-small has 10 stages and the baseline CNN 6. After each stage, the Spearman rank
  correlation between the trained model's map and the partly randomised model's map, per face. The
  last stage is the fully randomised model (the end point of :func:`randomised_model` with
  ``top=None``). Faces whose trained map is blank rank nothing and are left out; faces whose
  randomised map is blank are left out too and counted (as Quantus does), not scored 0.
* **eMPRT** (Hedström et al. 2024, "Sanity Checks Revisited", efficient MPRT, as Quantus's
  ``EfficientMPRT``): the relative rise in the discrete entropy (100 equal bins over the map's own
  range) from the trained to the fully randomised model's map, ``(H_rand - H_orig) / H_orig``;
  higher is better (randomising the model makes its explanation less structured).
* **sMPRT** (same paper, Quantus's ``SmoothMPRT``): the end-point Spearman correlation after each
  map is averaged over `samples` noisy copies of the face (Gaussian noise of ``noise`` times the
  face's own pixel range, the last copy noise-free), which removes the noise that lets a random
  model's map look different; lower is better.

Re-initialisation follows Keras's defaults: Glorot-uniform kernels, zero biases, batch-norm
gamma 1 / beta 0 / moving mean 0 / moving variance 1; any other weight is shuffled. Draws go top
down, so one seed gives one cascade and its end point equals ``randomised_model(model, None, seed)``.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

#: Quantus's default number of bins for eMPRT's discrete entropy
ENTROPY_BINS = 100


def weighted_layers(model) -> list:
    """Top-level layers that hold weights, input side first."""
    return [layer for layer in model.layers if layer.weights]


def cascade_stages(model) -> list[list]:
    """The cascade's stages, input side first: each layer with weights plus the batch
    normalisations that directly follow it."""
    stages: list[list] = []
    for layer in weighted_layers(model):
        if stages and type(layer).__name__ == "BatchNormalization":
            stages[-1].append(layer)
        else:
            stages.append([layer])
    return stages


def _reinit(var, rng: np.random.Generator) -> np.ndarray:
    name = var.path.split("/")[-1] if hasattr(var, "path") else var.name
    shape = tuple(var.shape)
    if "kernel" in name and len(shape) >= 2:
        receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
        fan_in, fan_out = shape[-2] * receptive, shape[-1] * receptive
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-limit, limit, shape).astype(np.float32)
    if name in ("bias", "beta", "moving_mean"):
        return np.zeros(shape, np.float32)
    if name in ("gamma", "moving_variance"):
        return np.ones(shape, np.float32)
    values = np.asarray(var.numpy()).ravel().copy()
    rng.shuffle(values)
    return values.reshape(shape)


def _copy(model):
    import keras

    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


def randomised_model(model, top: int | None = None, seed: int = 0):
    """A copy of `model` whose `top` highest weighted layers (all when None) are re-initialised;
    the rest keep the trained weights. The model passed in is not changed."""
    copy = _copy(model)
    layers = weighted_layers(copy)
    k = len(layers) if top is None else int(top)
    rng = np.random.default_rng(seed)
    for layer in layers[len(layers) - k:][::-1]:  # top down, so a seed gives the same cascade
        for var in layer.weights:
            var.assign(_reinit(var, rng))
    return copy


def cascade(model, seed: int = 0) -> Iterator[tuple[int, str, Any]]:
    """Yield (stage, name, model) from the top down: one copy of `model` re-initialised in place one
    more stage at a time (stage 1: the top stage only; the last: every weight). The same copy is
    yielded each time (use it before the next step); the model passed in is not changed."""
    copy = _copy(model)
    rng = np.random.default_rng(seed)
    for s, stage in enumerate(cascade_stages(copy)[::-1], start=1):
        for layer in stage[::-1]:  # top down inside a stage too: the draws of randomised_model
            for var in layer.weights:
                var.assign(_reinit(var, rng))
        yield s, stage[0].name, copy


def spearman_per_map(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spearman rank correlation of each pair of maps (N, H, W); NaN where either map is constant
    (a blank map ranks nothing: that face is left out, see :func:`blank_pairs`)."""
    from scipy.stats import rankdata

    a2 = np.asarray(a, np.float64).reshape(len(a), -1)
    b2 = np.asarray(b, np.float64).reshape(len(b), -1)
    out = np.full(len(a2), np.nan)
    for i, (x, y) in enumerate(zip(a2, b2)):
        if np.ptp(x) > 0 and np.ptp(y) > 0:
            out[i] = np.corrcoef(rankdata(x), rankdata(y))[0, 1]
    return out


def blank_pairs(trained: np.ndarray, randomised: np.ndarray) -> int:
    """Faces left out because the randomised model's map is blank (constant) while the trained
    model's is not."""
    a = np.ptp(np.asarray(trained, np.float64).reshape(len(trained), -1), axis=1) > 0
    b = np.ptp(np.asarray(randomised, np.float64).reshape(len(randomised), -1), axis=1) > 0
    return int((a & ~b).sum())


def discrete_entropy(m: np.ndarray, bins: int = ENTROPY_BINS) -> float:
    """Shannon entropy (nats) of the histogram of a map's values in `bins` equal bins over its range
    (Quantus's ``discrete_entropy``); 0 for a constant map."""
    hist, _ = np.histogram(np.asarray(m, np.float64).ravel(), bins=bins)
    p = hist[hist > 0] / hist.sum()
    return float(-(p * np.log(p)).sum())


def emprt(trained: np.ndarray, randomised: np.ndarray, bins: int = ENTROPY_BINS) -> np.ndarray:
    """Per face, the relative rise in discrete entropy from the trained to the fully randomised
    model's map; NaN where either map is blank (left out, as in the correlation)."""
    out = np.full(len(trained), np.nan)
    for i, (a, b) in enumerate(zip(trained, randomised)):
        if np.ptp(a) > 0 and np.ptp(b) > 0:
            h = discrete_entropy(a, bins)
            out[i] = (discrete_entropy(b, bins) - h) / h if h > 0 else np.nan
    return out


def noisy_faces(faces: np.ndarray, samples: int, noise: float = 0.1, seed: int = 0) -> list[np.ndarray]:
    """`samples` copies of uint8 faces (N, H, W), all but the last with Gaussian noise of std
    `noise` times each face's pixel range (rounded, clipped to 0-255); the last is the face itself."""
    f = np.asarray(faces)
    rng = np.random.default_rng(seed)
    span = np.ptp(f.reshape(len(f), -1), axis=1).astype(np.float32)[:, None, None]
    out = [np.clip(np.round(f + rng.normal(0.0, 1.0, f.shape) * noise * span), 0, 255).astype(np.uint8)
           for _ in range(max(0, samples - 1))]
    return out + [f.astype(np.uint8)]


def smoothed_maps(explain_fn: Callable[[np.ndarray], np.ndarray], faces: np.ndarray, samples: int,
                  noise: float = 0.1, seed: int = 0, clean: np.ndarray | None = None) -> np.ndarray:
    """sMPRT's denoised maps: the mean of `explain_fn` over :func:`noisy_faces` (`clean`: the maps
    of the faces themselves, if already computed)."""
    copies = noisy_faces(faces, samples, noise, seed)
    total = np.zeros(np.shape(faces), np.float64)
    for k, x in enumerate(copies):
        total += clean if (clean is not None and k == len(copies) - 1) else explain_fn(x)
    return (total / len(copies)).astype(np.float32)
