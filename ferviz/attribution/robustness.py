"""Robustness of the maps: does a map jump when nothing relevant changed?

Each face gets small perturbations that a person would not notice, deterministic for a seed:

* ``noise``: Gaussian noise of std :data:`NOISE_STD` grey levels (rounded, clipped);
* ``shift``: the face moved 1 pixel right (its left column repeated);
* ``brightness``: :data:`BRIGHTNESS` grey levels added (clipped).

Only perturbations that leave the prediction unchanged (the same views as the maps) count. The map
of the perturbed face is compared with the original map on the pixels both show (a shifted map is
moved back first, so a map that follows the face is not penalised):

* ``robust_spearman``: Spearman rank correlation with the original map, averaged over the kept
  perturbations (1 = unchanged; blank maps are left out);
* ``max_sensitivity``: as Quantus's ``MaxSensitivity`` (Yeh et al. 2019), the largest relative change
  ``||a - a'|| / ||a||`` (Frobenius norms) over the kept perturbations (0 = unchanged).

A face with no kept perturbation (or a blank original map) gets NaN.
"""
from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np

from ..errors import AttributionError
from .randomisation import spearman_per_map

PERTURBATIONS = ("noise", "shift", "brightness")
NOISE_STD = 3.0  # grey levels
BRIGHTNESS = 8.0  # grey levels


def perturb(faces: np.ndarray, kind: str, seed: int = 0) -> np.ndarray:
    """uint8 faces (N, H, W) under one small perturbation (see the module)."""
    f = np.asarray(faces).astype(np.float32)
    if kind == "noise":
        f = f + np.random.default_rng(seed).normal(0.0, NOISE_STD, f.shape)
    elif kind == "shift":
        f = np.concatenate([f[:, :, :1], f[:, :, :-1]], axis=2)
    elif kind == "brightness":
        f = f + BRIGHTNESS
    else:
        raise AttributionError(f"unknown perturbation {kind!r}; choose from {', '.join(PERTURBATIONS)}")
    return np.clip(np.round(f), 0, 255).astype(np.uint8)


def align(original: np.ndarray, perturbed: np.ndarray, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """The two maps (N, H, W) on the pixels both show: a shifted face's map is moved back."""
    if kind == "shift":
        return original[:, :, :-1], perturbed[:, :, 1:]
    return original, perturbed


def max_sensitivity_terms(original: np.ndarray, perturbed: np.ndarray) -> np.ndarray:
    """Per face ``||a - a'|| / ||a||`` (Frobenius); NaN where the original map is zero."""
    a = np.asarray(original, np.float64).reshape(len(original), -1)
    b = np.asarray(perturbed, np.float64).reshape(len(perturbed), -1)
    norm = np.linalg.norm(a, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norm > 0, np.linalg.norm(a - b, axis=1) / np.where(norm > 0, norm, 1.0), np.nan)


def robustness(maps: np.ndarray, faces: np.ndarray, targets: np.ndarray,
               explain_fn: Callable[[np.ndarray, np.ndarray], np.ndarray], predict_fn: Callable[[np.ndarray], np.ndarray], *,
               kinds=PERTURBATIONS, seed: int = 0) -> dict[str, np.ndarray]:
    """Per face ``robust_spearman``, ``max_sensitivity`` and ``kept`` (perturbations that left the
    prediction unchanged), given the original `maps`, `explain_fn(faces, targets) -> maps` and
    `predict_fn(faces) -> FER class per face`."""
    n = len(faces)
    rho = np.full((len(kinds), n), np.nan)
    sens = np.full((len(kinds), n), np.nan)
    targets = np.asarray(targets)
    for k, kind in enumerate(kinds):
        x = perturb(faces, kind, seed + k)
        same = np.asarray(predict_fn(x)) == targets
        if not same.any():
            continue
        a, b = align(np.asarray(maps)[same], explain_fn(x[same], targets[same]), kind)
        rho[k, same] = spearman_per_map(a, b)
        sens[k, same] = max_sensitivity_terms(a, b)
    with warnings.catch_warnings():  # all-NaN faces stay NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        out_rho = np.nanmean(rho, axis=0)
        out_sens = np.nanmax(sens, axis=0)
    kept = np.isfinite(sens).sum(axis=0)
    return {"robust_spearman": out_rho, "max_sensitivity": out_sens, "kept": kept}
