"""Face detection in user photos and FER2013-style cropping (grayscale, 48x48, face filling the frame).

Detector: MTCNN (`mtcnn==1.0.0`, TensorFlow, weights inside the wheel, nothing downloaded), run
on a copy whose longer side is at most `DETECT_MAX_SIDE` (its time grows with the pixel count).
Framing: the crop is the square of side max(w, h) centred on the MTCNN box (`FRAME_MARGIN = 0`,
`FRAME_SHIFT = 0`), which is how tight FER2013's faces are. Why MTCNN and why this framing, with
the measurements: docs/faces.md.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..errors import FaceError
from .images import PhotoError, load_photo

FRAME_MARGIN = 0.0  # side = max(w, h) * (1 + margin)
FRAME_SHIFT = 0.0  # centre moved down by this fraction of the side
FACE_SIZE = 48
DETECT_MAX_SIDE = 1024
MIN_CONFIDENCE = 0.9  # MTCNN's own thresholds let a few 0.8-0.9 false positives through
LANDMARKS = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")

__all__ = ["FaceError", "PhotoError", "Face", "Photo", "FaceDetector", "get_detector", "detect_faces",
           "crop_face", "whole_image_box", "whole_image_crop", "crop_faces", "analyse_photo",
           "predict_faces", "annotate_boxes", "load_photo"]

Box = tuple[int, int, int, int]



@dataclass(frozen=True)
class Face:
    """One face: box (x, y, w, h) in image pixels, detector confidence, optional landmarks.

    `source` is "mtcnn" for detected faces, "user" for a box the user drew and "whole-image"
    for the manual fallback; the latter two have confidence 1.0.
    """

    box: Box
    confidence: float = 1.0
    landmarks: dict[str, tuple[int, int]] | None = field(default=None, compare=False, hash=False)
    source: str = "mtcnn"

    @property
    def area(self) -> int:
        return self.box[2] * self.box[3]


@dataclass(frozen=True, eq=False)
class Photo:
    """A decoded photo, its faces (largest first), their 48x48 crops and the square boxes cropped."""

    rgb: np.ndarray  # (H, W, 3) uint8
    faces: list[Face]
    crops: np.ndarray  # (K, 48, 48) uint8
    boxes: list[Box]  # the square (x, y, side, side) each crop was taken from

    def __len__(self) -> int:
        return len(self.faces)


class FaceDetector:
    """MTCNN behind a lock (Streamlit sessions share one instance across threads)."""

    name = "mtcnn"

    def __init__(self, *, min_confidence: float = MIN_CONFIDENCE, max_side: int = DETECT_MAX_SIDE,
                 min_face_size: int = 20):
        from mtcnn import MTCNN

        self._mtcnn = MTCNN(stages="face_and_landmarks_detection", device="CPU:0")
        self.min_confidence = float(min_confidence)
        self.max_side = int(max_side)
        self.min_face_size = int(min_face_size)
        self._lock = threading.Lock()

    def detect(self, rgb: np.ndarray) -> list[Face]:
        rgb = _as_rgb(rgb)
        h, w = rgb.shape[:2]
        scale = min(1.0, self.max_side / max(h, w))
        small = rgb
        if scale < 1.0:
            small = np.asarray(Image.fromarray(rgb).resize(
                (max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.BOX))
        if min(small.shape[:2]) < 24:
            return []
        with self._lock:
            found = self._mtcnn.detect_faces(small, min_face_size=self.min_face_size)
        faces = []
        for f in found or []:
            conf = float(f["confidence"])
            bx, by, bw, bh = (float(v) / scale for v in f["box"])
            x0, y0 = max(0, round(bx)), max(0, round(by))
            x1, y1 = min(w, round(bx + bw)), min(h, round(by + bh))
            if conf < self.min_confidence or x1 <= x0 or y1 <= y0:
                continue
            marks = {k: (round(float(p[0]) / scale), round(float(p[1]) / scale))
                     for k, p in (f.get("keypoints") or {}).items()}
            faces.append(Face((x0, y0, x1 - x0, y1 - y0), conf, marks or None, "mtcnn"))
        return sorted(faces, key=lambda f: (-f.area, f.box))


_DETECTOR: FaceDetector | None = None
_DETECTOR_LOCK = threading.Lock()


def get_detector() -> FaceDetector:
    """The shared detector, built on first use (imports TensorFlow, loads MTCNN's weights)."""
    global _DETECTOR
    with _DETECTOR_LOCK:
        if _DETECTOR is None:
            _DETECTOR = FaceDetector()
        return _DETECTOR


def detect_faces(rgb: np.ndarray, *, detector: FaceDetector | None = None) -> list[Face]:
    """Faces in an (H, W, 3) uint8 RGB image, largest first (empty list if none)."""
    return (detector or get_detector()).detect(rgb)


def _as_rgb(rgb: np.ndarray) -> np.ndarray:
    a = np.asarray(rgb)
    if a.dtype != np.uint8:
        raise FaceError(f"expected a uint8 image, got dtype {a.dtype}")
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=-1)
    if a.ndim != 3 or a.shape[-1] != 3:
        raise FaceError(f"expected an (H, W, 3) RGB image, got shape {a.shape}")
    return np.ascontiguousarray(a)


def check_box(box: Sequence[float], shape: tuple[int, ...]) -> Box:
    """A box (x, y, w, h) as ints, checked to be non-empty and to overlap the image."""
    try:
        x, y, w, h = (int(round(float(v))) for v in box)
    except (TypeError, ValueError):
        raise FaceError(f"a box is four numbers x, y, w, h; got {box!r}") from None
    H, W = shape[:2]
    if w < 1 or h < 1:
        raise FaceError(f"box {x},{y},{w},{h} is empty (width and height must be at least 1)")
    if x >= W or y >= H or x + w <= 0 or y + h <= 0:
        raise FaceError(f"box {x},{y},{w},{h} lies outside the {W}x{H} image")
    return x, y, w, h


def crop_face(rgb: np.ndarray, box: Sequence[float], *, margin: float = FRAME_MARGIN,
              shift: float = FRAME_SHIFT, size: int = FACE_SIZE) -> tuple[np.ndarray, Box]:
    """A FER2013-style (size, size) uint8 grayscale crop of `box`, and the square box it used.

    The square has side max(w, h) * (1 + margin), centred on the box (moved down by
    shift * side); parts outside the image are filled by edge replication. Grayscale is
    ITU-R 601 luma (Pillow "L"); downscaling averages areas (box filter), upscaling is bicubic.
    """
    if not -0.5 < margin <= 3:
        raise FaceError(f"margin must be in (-0.5, 3], got {margin}")
    if not 8 <= int(size) <= 1024:
        raise FaceError(f"size must be in 8-1024, got {size}")
    a = np.asarray(rgb)
    if a.ndim == 3:
        a = _as_rgb(a)
    x, y, w, h = check_box(box, a.shape)
    H, W = a.shape[:2]
    side = max(1, round(max(w, h) * (1 + margin)))
    x0 = round(x + w / 2 - side / 2)
    y0 = round(y + h / 2 + shift * side - side / 2)
    ix0, iy0, ix1, iy1 = max(0, x0), max(0, y0), min(W, x0 + side), min(H, y0 + side)
    if ix1 <= ix0 or iy1 <= iy0:
        raise FaceError(f"the crop square {x0},{y0},{side},{side} lies outside the {W}x{H} image")
    region = a[iy0:iy1, ix0:ix1]
    gray = np.asarray(Image.fromarray(region).convert("L")) if region.ndim == 3 else region
    pad = ((iy0 - y0, y0 + side - iy1), (ix0 - x0, x0 + side - ix1))
    if any(p for pair in pad for p in pair):
        gray = np.pad(gray, pad, mode="edge")
    resample = Image.Resampling.BOX if side >= size else Image.Resampling.BICUBIC
    out = np.asarray(Image.fromarray(gray).resize((size, size), resample), dtype=np.uint8)
    return out, (x0, y0, side, side)


def whole_image_box(shape: tuple[int, ...]) -> Box:
    """The centred square of side min(H, W): the "use the whole image as the face" fallback."""
    H, W = shape[:2]
    s = min(H, W)
    return (W - s) // 2, (H - s) // 2, s, s


def whole_image_crop(rgb: np.ndarray, *, size: int = FACE_SIZE) -> tuple[np.ndarray, Box]:
    """The centre square of the image as a (size, size) grayscale face, and that square."""
    return crop_face(rgb, whole_image_box(np.shape(rgb)), margin=0.0, shift=0.0, size=size)


def crop_faces(rgb: np.ndarray, faces: Sequence[Face], *, size: int = FACE_SIZE) -> tuple[np.ndarray, list[Box]]:
    """Crops (K, size, size) uint8 and square boxes for faces (manual boxes: no extra margin)."""
    crops, boxes = [], []
    for f in faces:
        if f.source == "whole-image":
            c, b = crop_face(rgb, f.box, margin=0.0, shift=0.0, size=size)
        else:
            c, b = crop_face(rgb, f.box, size=size)
        crops.append(c)
        boxes.append(b)
    return (np.stack(crops) if crops else np.zeros((0, size, size), np.uint8)), boxes


def analyse_photo(data: bytes | np.ndarray, *, box: Sequence[float] | None = None, whole_image: bool = False,
                  detector: FaceDetector | None = None, size: int = FACE_SIZE) -> Photo:
    """Decode (bytes) or take (RGB array) a photo, find its faces and crop them.

    `box` (x, y, w, h): use this user-adjusted face box instead of detecting; `whole_image`:
    use the centre square of the image. Otherwise MTCNN's faces, largest first.
    """
    rgb = _as_rgb(data) if isinstance(data, np.ndarray) else load_photo(data)
    if box is not None:
        faces = [Face(check_box(box, rgb.shape), 1.0, None, "user")]
    elif whole_image:
        faces = [Face(whole_image_box(rgb.shape), 1.0, None, "whole-image")]
    else:
        faces = detect_faces(rgb, detector=detector)
    crops, boxes = crop_faces(rgb, faces, size=size)
    return Photo(rgb, faces, crops, boxes)


def predict_faces(model, card, crops: np.ndarray) -> np.ndarray:
    """Probabilities (K, C) for uint8 crops (K, H, W) (resized to the card's input), column c = class c
    of :data:`ferviz.labels.NAMES` (:func:`ferviz.analysis.evaluation.predict_probs`)."""
    from ..analysis.evaluation import predict_probs

    crops = np.asarray(crops)
    if crops.ndim != 3 or crops.dtype != np.uint8:
        raise FaceError(f"expected uint8 crops (K, H, W), got {crops.dtype} {crops.shape}")
    if len(crops) == 0:
        from ..labels import width

        return np.zeros((0, width(card.classes)), np.float32)
    return predict_probs(model, card, crops)


def annotate_boxes(rgb: np.ndarray, faces: Sequence[Face | Sequence[float]], *,
                   selected: int | None = None) -> np.ndarray:
    """A copy of the image with numbered boxes (1, 2, ...); face `selected` (0-based) highlighted."""
    im = Image.fromarray(_as_rgb(rgb))
    draw = ImageDraw.Draw(im)
    H, W = im.height, im.width
    width = max(2, round(max(H, W) / 250))
    try:
        font = ImageFont.load_default(size=max(12, round(max(H, W) / 30)))
    except Exception:  # Pillow without FreeType
        font = ImageFont.load_default()
    for i, f in enumerate(faces):
        x, y, w, h = f.box if isinstance(f, Face) else check_box(f, (H, W))
        colour = (255, 200, 0) if i == selected else (0, 220, 90)
        draw.rectangle([x, y, x + w - 1, y + h - 1], outline=colour, width=width)
        label = str(i + 1)
        l, t, r, b = draw.textbbox((0, 0), label, font=font)
        tx, ty = max(0, x), max(0, y - (b - t) - 2 * width)
        if ty == 0 and y < (b - t) + 2 * width:  # no room above: label inside the box
            ty = max(0, y)
        draw.rectangle([tx, ty, tx + (r - l) + 2 * width, ty + (b - t) + 2 * width], fill=colour)
        draw.text((tx + width - l, ty + width - t), label, fill=(0, 0, 0), font=font)
    return np.asarray(im, dtype=np.uint8).copy()
