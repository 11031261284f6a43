"""Perturbations of faces for the stress test, each at severities 1-5 (0 is the face itself).

Every perturbation takes the dataset's uint8 faces (N, H, W) and returns perturbed uint8 faces of
the same shape, deterministically for a seed; they are applied before the model's own
preprocessing and test-time views (the model sees them as it would see such photos).

=============== ==================================================== ===============================
perturbation    what                                                 severities 1-5
=============== ==================================================== ===============================
occlude_eyes    the landmark region (as on the Inspector's region    the region grown by 0, 1, 2, 3
occlude_brows   overlay) filled with the face's mean grey            and 4 pixels (per 48 px)
occlude_nose
occlude_mouth
noise           Gaussian noise, standard deviation in grey levels    10, 20, 31, 46, 66
blur            Gaussian blur, sigma in pixels (per 48 px)           0.5, 1, 1.5, 2, 3
brightness      dim light: grey levels multiplied by                 0.8, 0.6, 0.45, 0.3, 0.2
contrast        grey levels pulled towards the face's mean, kept     0.75, 0.5, 0.35, 0.2, 0.1
jpeg            JPEG compression (Pillow), quality                   60, 40, 25, 15, 8
lowres          down to a side of (px) and back up (area, bilinear)  32, 24, 18, 14, 12
rotate          rotation about the centre, degrees (edges repeated)  5, 10, 15, 20, 30
shift           translation in a random direction, pixels (per 48)   2, 4, 6, 8, 12
scale           zoom out about the centre, factor (edges repeated)   0.9, 0.8, 0.7, 0.6, 0.5
mirror          left-right flip                                      1 only
=============== ==================================================== ===============================

Occlusions need the faces' five landmarks (:mod:`ferviz.data.landmarks`); where ONet found none,
the template's regions are used. Noise and the direction of a shift are drawn from a generator
seeded by (`seed`, perturbation, severity), so a run is repeatable.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
import numpy as np

from ..errors import AnalysisError

SEVERITIES = (1, 2, 3, 4, 5)


@dataclass(frozen=True)
class Perturbation:
    name: str
    label: str
    unit: str
    values: tuple[float, ...]  # the parameter at severity 1..len(values)
    verb: str  # "occluding the mouth", "blurring"

    @property
    def severities(self) -> tuple[int, ...]:
        return tuple(range(1, len(self.values) + 1))


PERTURBATIONS: dict[str, Perturbation] = {p.name: p for p in (
    Perturbation("occlude_eyes", "eyes occluded", "px grown", (0, 1, 2, 3, 4), "occluding the eyes"),
    Perturbation("occlude_brows", "brows occluded", "px grown", (0, 1, 2, 3, 4), "occluding the brows"),
    Perturbation("occlude_nose", "nose occluded", "px grown", (0, 1, 2, 3, 4), "occluding the nose"),
    Perturbation("occlude_mouth", "mouth occluded", "px grown", (0, 1, 2, 3, 4), "occluding the mouth"),
    Perturbation("noise", "noise", "grey levels (sd)", (10, 20, 31, 46, 66), "adding noise"),
    Perturbation("blur", "blur", "px (sigma)", (0.5, 1.0, 1.5, 2.0, 3.0), "blurring"),
    Perturbation("brightness", "dim light", "× grey levels", (0.8, 0.6, 0.45, 0.3, 0.2), "dimming the light"),
    Perturbation("contrast", "low contrast", "× contrast", (0.75, 0.5, 0.35, 0.2, 0.1), "lowering the contrast"),
    Perturbation("jpeg", "JPEG", "quality", (60, 40, 25, 15, 8), "JPEG compression"),
    Perturbation("lowres", "low resolution", "px side", (32, 24, 18, 14, 12), "lowering the resolution"),
    Perturbation("rotate", "rotation", "degrees", (5, 10, 15, 20, 30), "rotating the face"),
    Perturbation("shift", "shift", "px", (2, 4, 6, 8, 12), "shifting the face"),
    Perturbation("scale", "zoom out", "× size", (0.9, 0.8, 0.7, 0.6, 0.5), "zooming out"),
    Perturbation("mirror", "mirror", "", (1,), "mirroring the face"),
)}
OCCLUSIONS = {"occlude_eyes": "eyes", "occlude_brows": "brows", "occlude_nose": "nose", "occlude_mouth": "mouth"}


def check(name: str, severity: int) -> Perturbation:
    """The perturbation `name`, after checking `severity` is one it has (0 always is)."""
    if name not in PERTURBATIONS:
        raise AnalysisError(f"unknown perturbation {name!r}; choose from {', '.join(PERTURBATIONS)}")
    p = PERTURBATIONS[name]
    if severity != 0 and severity not in p.severities:
        raise AnalysisError(f"{name} has severities 0-{len(p.values)}, got {severity}")
    return p


def _rng(seed: int, name: str, severity: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), sum(map(ord, name)), int(severity)])


def _affine(x: np.ndarray, matrices: np.ndarray) -> np.ndarray:
    import cv2

    h, w = x.shape[1:3]
    return np.stack([cv2.warpAffine(f, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
                     for f, m in zip(x, matrices)]) if len(x) else x


def _occlude(x: np.ndarray, region: str, grow: int, points: np.ndarray | None) -> np.ndarray:
    import cv2

    from ..attribution.regions import REGIONS, region_maps
    from ..data.landmarks import TEMPLATE

    h, w = x.shape[1:3]
    pts = np.repeat(TEMPLATE[None], len(x), 0) if points is None else np.asarray(points)
    if len(pts) != len(x):
        raise AnalysisError(f"{len(pts)} landmarks for {len(x)} faces")
    masks = region_maps(pts, (h, w)) == REGIONS.index(region)
    k = int(round(grow * w / 48))
    if k > 0:
        kernel = np.ones((2 * k + 1, 2 * k + 1), np.uint8)
        masks = np.stack([cv2.dilate(m.astype(np.uint8), kernel) > 0 for m in masks])
    mean = x.reshape(len(x), -1).mean(axis=1).round().astype(np.uint8)
    out = x.copy()
    out[masks] = np.broadcast_to(mean[:, None, None], x.shape)[masks]
    return out


def _jpeg(x: np.ndarray, quality: int) -> np.ndarray:
    from PIL import Image

    out = []
    for f in x:
        buf = io.BytesIO()
        Image.fromarray(f).save(buf, format="JPEG", quality=int(quality))
        out.append(np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("L")))
    return np.stack(out) if out else x


def perturb(images: np.ndarray, name: str, severity: int, *, points: np.ndarray | None = None,
            seed: int = 0) -> np.ndarray:
    """`images` (N, H, W) uint8 under perturbation `name` at `severity` (0: unchanged copy).
    `points`: (N, 5, 2) landmarks for the occlusions (None: the template's)."""
    import cv2

    p = check(name, severity)
    x = np.asarray(images)
    if x.ndim != 3 or x.dtype != np.uint8:
        raise AnalysisError(f"expected uint8 faces shaped (N, H, W), got {x.dtype} {x.shape}")
    if severity == 0:
        return x.copy()
    v = p.values[severity - 1]
    h, w = x.shape[1:3]
    centre = ((w - 1) / 2, (h - 1) / 2)
    if name in OCCLUSIONS:
        return _occlude(x, OCCLUSIONS[name], int(v), points)
    if name == "noise":
        noisy = x.astype(np.float32) + _rng(seed, name, severity).normal(0, v, x.shape).astype(np.float32)
        return np.clip(np.round(noisy), 0, 255).astype(np.uint8)
    if name == "blur":
        s = v * w / 48
        return np.stack([cv2.GaussianBlur(f, (0, 0), s, borderType=cv2.BORDER_REFLECT_101) for f in x]) if len(x) else x
    if name == "brightness":
        return np.clip(np.round(x.astype(np.float32) * v), 0, 255).astype(np.uint8)
    if name == "contrast":
        m = x.reshape(len(x), -1).mean(axis=1)[:, None, None]
        return np.clip(np.round(m + (x.astype(np.float32) - m) * v), 0, 255).astype(np.uint8)
    if name == "jpeg":
        return _jpeg(x, int(v))
    if name == "lowres":
        side = max(2, int(round(v * w / 48)))
        return np.stack([cv2.resize(cv2.resize(f, (side, side), interpolation=cv2.INTER_AREA), (w, h),
                                    interpolation=cv2.INTER_LINEAR) for f in x]) if len(x) else x
    if name == "rotate":
        m = cv2.getRotationMatrix2D(centre, float(v), 1.0)
        return _affine(x, np.repeat(m[None], len(x), 0))
    if name == "shift":
        angle = _rng(seed, name, severity).uniform(0, 2 * np.pi, len(x))
        d = v * w / 48
        mats = np.zeros((len(x), 2, 3))
        mats[:, 0, 0] = mats[:, 1, 1] = 1
        mats[:, 0, 2], mats[:, 1, 2] = d * np.cos(angle), d * np.sin(angle)
        return _affine(x, mats)
    if name == "scale":
        m = cv2.getRotationMatrix2D(centre, 0.0, float(v))
        return _affine(x, np.repeat(m[None], len(x), 0))
    if name == "mirror":
        return x[:, :, ::-1].copy()
    raise AnalysisError(f"no implementation for {name}")  # pragma: no cover


def describe(name: str, severity: int) -> str:
    """'occluding the mouth (severity 3: region grown by 2 px)', 'blurring (severity 2: 1 px (sigma))'."""
    p = check(name, severity)
    if severity == 0:
        return "the faces as they are"
    if name == "mirror":
        return p.verb
    v = p.values[severity - 1]
    if name in OCCLUSIONS:
        return f"{p.verb} (severity {severity}: the region {f'grown by {v:g} px' if v else 'itself'})"
    return f"{p.verb} (severity {severity}: {v:g} {p.unit})"

