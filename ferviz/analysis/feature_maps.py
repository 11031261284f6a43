"""Feature maps per block: what each spatial block of a model computes on a face.

A **block** is a run of conv layers at one spatial resolution: the model's top-level conv layers
with a spatial (4-D, larger than 1x1) output before any global pooling or flatten
(:func:`.attribution.gradients.spatial_layers`) are grouped by their output's height x width,
and each group is represented by the activation that follows its *last* conv (through batch
norm, dropout, ...; :func:`.attribution.gradients.rectified_layer`): the block's output just
before it is pooled or strided to the next resolution. Blocks are ordered from the largest
resolution to the smallest. A nested backbone model counts as one conv layer (its output).

One traced sub-model gives every block's activations, the Grad-CAM layer's (the card's
``gradcam_layer``, else ferviz's default rectified layer) and the target's pre-softmax logit
in one forward pass; gradients are taken inside a ``tf.function`` on that logit, exactly as
Grad-CAM does (:mod:`.attribution.gradients`). Channels are ranked by

- ``mean``: the channel's spatial mean activation, or
- ``gradxact``: gradient x activation for the class explained, summed over the map (what the
  channel adds to that logit, to first order; after global average pooling and a dense layer,
  exactly: the last block's scores add up to the logit minus its bias).

At the Grad-CAM layer each channel's contribution is its Grad-CAM weight (the spatially averaged
gradient) x its mean activation (the contributions add up to the spatial mean of the CAM before
its ReLU); a channel's **share** of the Grad-CAM evidence is its contribution divided by the sum
of all positive contributions (0 for a channel that adds none; the positive shares add up to 1).

Everything is a **single view** (the face as given, no test-time augmentation).
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import AnalysisError
from ..models import ModelCard, preprocess

RANKS: dict[str, str] = {"mean": "mean activation", "gradxact": "gradient x activation"}
MAX_TOP = 32
VIEWS_NOTE = "single view (no test-time augmentation)"

_PROBES: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def check_rank(rank: str) -> str:
    if rank not in RANKS:
        raise AnalysisError(f"rank must be one of {', '.join(RANKS)}, got {rank!r}")
    return rank


def check_top(top: Any) -> int:
    if isinstance(top, bool) or not isinstance(top, (int, np.integer)) or not 1 <= top <= MAX_TOP:
        raise AnalysisError(f"top-k must be an integer in 1-{MAX_TOP}, got {top!r}")
    return int(top)


def block_layers(model) -> list[str]:
    """The layer name of each block (see the module docstring), largest resolution first."""
    from ..attribution.gradients import (
        _is_conv,
        layer_output,
        rectified_layer,
        spatial_layers,
    )

    last: dict[tuple, object] = {}
    for layer in spatial_layers(model):
        if _is_conv(layer):
            hw = tuple(layer_output(layer).shape[1:3])
            last.pop(hw, None)  # keep insertion order = the order of each resolution's last conv
            last[hw] = layer
    ordered = sorted(last.items(), key=lambda kv: -((kv[0][0] or 0) * (kv[0][1] or 0)))
    return [rectified_layer(model, conv).name for _, conv in ordered]


@dataclass(frozen=True)
class FeatureMaps:
    """Activations of a batch of N faces at every block and at the Grad-CAM layer (all channels).

    acts/grads: per block (N, h, w, k); cam_acts/cam_grads: (N, h, w, k) at `gradcam_layer`;
    targets: FER class indices explained."""

    layers: tuple[str, ...]
    acts: tuple[np.ndarray, ...]
    grads: tuple[np.ndarray, ...]
    gradcam_layer: str
    cam_acts: np.ndarray
    cam_grads: np.ndarray
    targets: np.ndarray

    def scores(self, b: int, rank: str) -> np.ndarray:
        """(N, k) channel scores of block `b`: mean activation, or gradient x activation summed over the map."""
        a = self.acts[b]
        if check_rank(rank) == "mean":
            return a.mean(axis=(1, 2))
        return (a * self.grads[b]).sum(axis=(1, 2))

    def cam_weights(self) -> np.ndarray:
        """(N, k) Grad-CAM channel weights: the spatially averaged gradients."""
        return self.cam_grads.mean(axis=(1, 2))

    def cam_contributions(self) -> np.ndarray:
        """(N, k): Grad-CAM weight x mean activation of each channel."""
        return self.cam_weights() * self.cam_acts.mean(axis=(1, 2))

    def cam_shares(self) -> np.ndarray:
        """(N, k): each channel's contribution over the sum of the positive ones (0 if not positive)."""
        c = self.cam_contributions()
        total = np.clip(c, 0, None).sum(axis=1, keepdims=True)
        return np.where((c > 0) & (total > 0), c / np.where(total > 0, total, 1.0), 0.0)


@dataclass(frozen=True)
class BlockTop:
    """The top-k channels of one block for one face: indices, scores and (k, h, w) maps."""

    layer: str
    channels: int
    indices: np.ndarray
    scores: np.ndarray
    maps: np.ndarray = field(repr=False)


@dataclass(frozen=True)
class CamTop:
    """The channel that contributes most to the class at the Grad-CAM layer, for one face."""

    layer: str
    index: int
    weight: float
    mean_activation: float
    contribution: float
    share: float
    map: np.ndarray = field(repr=False)


@dataclass(frozen=True)
class FaceFeatures:
    """What the feature-maps view shows for one face (`target`: the FER class explained)."""

    blocks: tuple[BlockTop, ...]
    gradcam: CamTop
    target: int
    rank: str


class _Probe:
    """Input -> (block activations..., logits) in one traced pass, with their gradients."""

    def __init__(self, model, layers: list[str]):
        import keras
        import tensorflow as tf

        from ..attribution.gradients import layer_output, score_model

        self.layers = layers
        self._score = score_model(model)  # its head turns the pre-softmax tensor into logits
        feats = [layer_output(model.get_layer(n)) for n in layers]
        self.sub = keras.Model(model.inputs, feats + list(self._score.sub.outputs), name="ferviz_feature_probe")
        x_spec = tf.TensorSpec((None, *model.input_shape[1:]), tf.float32)
        w_spec = tf.TensorSpec((None, int(model.output_shape[-1])), tf.float32)
        self.run = tf.function(self._run, input_signature=[x_spec, w_spec])

    def _run(self, x, weights):
        import tensorflow as tf

        with tf.GradientTape() as tape:
            out = self.sub(x, training=False)
            feats = list(out[:-1])
            score = tf.reduce_sum(self._score._head(out[-1]) * weights, axis=1)
        grads = tape.gradient(score, feats)
        zeros = [tf.zeros_like(f) if g is None else g for f, g in zip(feats, grads)]
        return [tf.cast(f, tf.float32) for f in feats], [tf.cast(g, tf.float32) for g in zeros]


def _probe(model, layers: list[str]) -> _Probe:
    per_model = _PROBES.setdefault(model, {})
    key = tuple(layers)
    if key not in per_model:
        per_model[key] = _Probe(model, layers)
    return per_model[key]


def feature_maps(model, card: ModelCard, faces: np.ndarray, targets: Any, *, batch_size: int = 64) -> FeatureMaps:
    """Every block's and the Grad-CAM layer's activations and logit gradients for uint8 faces
    (N, H, W) and FER targets (one per face, or one for all), single view."""
    import tensorflow as tf

    from ..attribution.base import check_images, fer_targets, output_indices
    from ..attribution.gradients import gradcam_layer, one_hot

    faces = check_images(faces)
    fer = fer_targets(targets, len(faces))
    blocks = block_layers(model)
    cam = gradcam_layer(model, card)
    if not blocks:
        raise AnalysisError(f"{card.name}: the model has no conv layer with a spatial output, so it has no "
                         "feature-map blocks")
    names = list(dict.fromkeys([*blocks, cam]))
    probe = _probe(model, names)
    x = preprocess(faces, card.input)
    w = one_hot(output_indices(card, fer), int(model.output_shape[-1]))
    feats: list[list[np.ndarray]] = [[] for _ in names]
    grads: list[list[np.ndarray]] = [[] for _ in names]
    for s in range(0, len(x), batch_size):
        f, g = probe.run(tf.constant(x[s:s + batch_size]), tf.constant(w[s:s + batch_size]))
        for i in range(len(names)):
            feats[i].append(f[i].numpy())
            grads[i].append(g[i].numpy())
    acts = {n: np.concatenate(feats[i]) for i, n in enumerate(names)}
    grad = {n: np.concatenate(grads[i]) for i, n in enumerate(names)}
    return FeatureMaps(layers=tuple(blocks), acts=tuple(acts[n] for n in blocks), grads=tuple(grad[n] for n in blocks),
                       gradcam_layer=cam, cam_acts=acts[cam], cam_grads=grad[cam], targets=fer)


def top_channels(scores: np.ndarray, top: int) -> np.ndarray:
    """(N, k') channel indices of the `top` highest scores per row, best first (ties: lower index)."""
    s = np.asarray(scores)
    k = min(check_top(top), s.shape[-1])
    return np.argsort(-s, axis=-1, kind="stable")[..., :k]


def select(fm: FeatureMaps, i: int, rank: str = "mean", top: int = 8) -> FaceFeatures:
    """Face `i`'s top-`top` channels per block by `rank`, and its top channel at the Grad-CAM layer."""
    check_rank(rank)
    blocks = []
    for b, layer in enumerate(fm.layers):
        s = fm.scores(b, rank)[i]
        idx = top_channels(s, top)
        blocks.append(BlockTop(layer=layer, channels=len(s), indices=idx, scores=s[idx],
                               maps=np.moveaxis(fm.acts[b][i][..., idx], -1, 0)))
    c = fm.cam_contributions()[i]
    k = int(top_channels(c, 1)[0])
    cam = CamTop(layer=fm.gradcam_layer, index=k, weight=float(fm.cam_weights()[i, k]),
                 mean_activation=float(fm.cam_acts[i, ..., k].mean()), contribution=float(c[k]),
                 share=float(fm.cam_shares()[i, k]), map=fm.cam_acts[i, ..., k])
    return FaceFeatures(blocks=tuple(blocks), gradcam=cam, target=int(fm.targets[i]), rank=rank)


def face_features(model, card: ModelCard, faces: np.ndarray, targets: Any, rank: str = "mean",
                  top: int = 8) -> list[FaceFeatures]:
    """`select` for every face of a batch (one forward and backward pass for all)."""
    check_rank(rank)
    check_top(top)
    fm = feature_maps(model, card, faces, targets)
    return [select(fm, i, rank, top) for i in range(len(fm.targets))]


def to_arrays(feats: list[FaceFeatures]) -> dict[str, np.ndarray]:
    """The faces' selections stacked for ``np.savez``: per block b ``block{b}_maps`` (N, k, h, w),
    ``block{b}_indices``, ``block{b}_scores`` (N, k); ``layers``; the Grad-CAM layer's
    ``gradcam_index``, ``gradcam_share``, ``gradcam_contribution``, ``gradcam_weight`` (N,) and
    ``gradcam_map`` (N, h, w); ``targets`` and ``rank``."""
    if not feats:
        raise AnalysisError("no faces to save")
    out: dict[str, np.ndarray] = {"layers": np.array([b.layer for b in feats[0].blocks]),
                                  "rank": np.array(feats[0].rank), "views": np.array(VIEWS_NOTE),
                                  "targets": np.array([f.target for f in feats]),
                                  "gradcam_layer": np.array(feats[0].gradcam.layer)}
    for b in range(len(feats[0].blocks)):
        out[f"block{b}_maps"] = np.stack([f.blocks[b].maps for f in feats]).astype(np.float32)
        out[f"block{b}_indices"] = np.stack([f.blocks[b].indices for f in feats])
        out[f"block{b}_scores"] = np.stack([f.blocks[b].scores for f in feats]).astype(np.float32)
    for k in ("index", "share", "contribution", "weight"):
        out[f"gradcam_{k}"] = np.array([getattr(f.gradcam, k) for f in feats])
    out["gradcam_map"] = np.stack([f.gradcam.map for f in feats]).astype(np.float32)
    return out
