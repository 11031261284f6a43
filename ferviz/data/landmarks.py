"""Five facial landmarks (eyes, nose tip, mouth corners) on FER-style face crops.

FER2013 faces are already crops: the face fills the 48x48 frame. MTCNN's last stage, ONet, takes
exactly such a 48x48 crop and returns a face probability and five landmarks relative to it. So
ferviz runs ONet (weights from the ``mtcnn`` package, no download) on every whole face at once,
without MTCNN's proposal stages, which look for faces *inside* a larger photo and miss many
faces that fill the frame.

A face counts as detected when ONet's face probability is at least :data:`ONET_THRESHOLD` (MTCNN's
own ONet threshold) and the points are plausible (eyes side by side above the nose, the nose
above the mouth, everything near the frame). Otherwise the face gets :data:`TEMPLATE`, the median
landmarks of the detected Training faces of FER2013, and is recorded as such
(:attr:`Landmarks.detected`).

Points are (x, y) fractions of the image width and height (0 = left/top edge, 1 = right/bottom
edge), so they apply to a map of any size. "Left" and "right" are as seen in the image.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from .. import cache
from ..errors import DataError

POINTS: tuple[str, ...] = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")
ONET_THRESHOLD = 0.8
ONET_SIZE = 48
# Median ONet landmarks of the 25,879 Training faces of FER2013 that ONet detects (of 28,709),
# as (x, y) fractions of the frame. Reproduce: python -m ferviz landmarks --split Training
TEMPLATE = np.array([[0.3132, 0.3869], [0.6913, 0.3802], [0.5043, 0.5919],
                     [0.3416, 0.7821], [0.6650, 0.7769]], np.float32)
_VERSION = "1"


@dataclass(frozen=True)
class Landmarks:
    """Landmarks of N faces: `points` (N, 5, 2) (x, y) fractions, `detected` (N,) False where
    the template stands in, `score` (N,) ONet's face probability."""

    points: np.ndarray
    detected: np.ndarray
    score: np.ndarray

    def __len__(self) -> int:
        return len(self.points)

    @property
    def detection_rate(self) -> float:
        return float(self.detected.mean()) if len(self) else float("nan")


_ONET = None
_ONET_LOCK = threading.Lock()


def _onet():
    """MTCNN's ONet with the mtcnn package's weights, built once (thread-safe)."""
    global _ONET
    with _ONET_LOCK:
        if _ONET is None:
            import tensorflow as tf
            from mtcnn.network.onet import ONet
            from mtcnn.utils.tensorflow import load_weights

            net = ONet()
            net.build()
            net.set_weights(load_weights("onet.lz4"))
            _ONET = (net, tf.function(lambda x: net(x), reduce_retracing=True))
        return _ONET[1]


def onet_input(images: np.ndarray) -> np.ndarray:
    """(N, H, W[, C]) uint8 faces -> (N, 48, 48, 3) float32 as MTCNN normalises them."""
    x = np.asarray(images)
    if x.ndim == 2:
        x = x[None]
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] not in (1, 3, 4) or min(x.shape[1:3]) < 1:
        raise DataError(f"expected faces shaped (N, H, W) or (N, H, W, 1|3|4), got {np.asarray(images).shape}")
    x = x[..., :3].astype(np.float32)
    if x.shape[-1] == 1:
        x = np.repeat(x, 3, axis=-1)
    if x.shape[1:3] != (ONET_SIZE, ONET_SIZE):
        import tensorflow as tf

        x = tf.image.resize(x, (ONET_SIZE, ONET_SIZE), method="area").numpy()
    return (x - 127.5) / 128.0


def plausible(points: np.ndarray) -> np.ndarray:
    """(N, 5, 2) points -> (N,) True where they look like a face seen from the front."""
    p = np.asarray(points, np.float64)
    le, re, nose, ml, mr = (p[:, i] for i in range(5))
    eye_dist = np.linalg.norm(re - le, axis=1)
    eye_y = (le[:, 1] + re[:, 1]) / 2
    mouth_y = (ml[:, 1] + mr[:, 1]) / 2
    inside = np.all((p > -0.1) & (p < 1.1), axis=(1, 2))
    return (inside & (le[:, 0] < re[:, 0]) & (ml[:, 0] < mr[:, 0]) & (eye_dist > 0.15) & (eye_dist < 0.8)
            & (nose[:, 1] > eye_y) & (mouth_y > nose[:, 1]))


def detect_landmarks(images: np.ndarray, *, threshold: float = ONET_THRESHOLD, batch_size: int = 1024) -> Landmarks:
    """Landmarks of each whole face crop (see the module docstring); the template where ONet
    finds no face or implausible points."""
    x = onet_input(images)
    net = _onet()
    pts, scores = [], []
    for s in range(0, len(x), batch_size):
        _, marks, prob = net(x[s:s + batch_size])
        marks = np.asarray(marks, np.float32)
        pts.append(np.stack([marks[:, :5], marks[:, 5:]], axis=-1))
        scores.append(np.asarray(prob, np.float32)[:, 1])
    points = np.concatenate(pts) if pts else np.zeros((0, 5, 2), np.float32)
    score = np.concatenate(scores) if scores else np.zeros(0, np.float32)
    detected = (score >= threshold) & plausible(points)
    points = np.where(detected[:, None, None], points, TEMPLATE[None]).astype(np.float32)
    return Landmarks(points, detected, score)


def landmarks_cache_path(data_hash: str):
    """Where :func:`cached_landmarks` keeps a split's landmarks (keyed by its data hash)."""
    from .. import config

    return config.cache_dir() / "landmarks" / f"{cache.key_hash(data_hash, _VERSION, ONET_THRESHOLD)}.npz"


def cached_landmarks(images: np.ndarray, data_hash: str, *, use_cache: bool = True) -> Landmarks:
    """:func:`detect_landmarks` for a split, cached on disk by the split's data hash."""
    path = landmarks_cache_path(data_hash)
    hit = cache.load_arrays(path) if use_cache else None
    if hit is not None and hit.get("points") is not None and len(hit["points"]) == len(images):
        return Landmarks(hit["points"], hit["detected"].astype(bool), hit["score"])
    lm = detect_landmarks(images)
    cache.save_arrays(path, points=lm.points, detected=lm.detected, score=lm.score)
    return lm


def template_from(landmarks: Landmarks) -> np.ndarray:
    """The median points of the detected faces: how :data:`TEMPLATE` was made."""
    if not landmarks.detected.any():
        raise DataError("no detected faces to build a template from")
    return np.median(landmarks.points[landmarks.detected], axis=0).astype(np.float32)
