"""Live video analysis: faces per frame, their smoothed top-3 emotions and Grad-CAM on the main one.

:class:`LiveAnalyser` takes one (H, W, 3) uint8 frame at a time (RGB, or BGR with ``bgr=True``)
and returns the annotated frame and a :class:`LiveResult`. Per frame:

- **detect**: OpenCV's Haar cascade (frontal faces) on a grayscale copy whose longer side is at
  most `DETECT_SIDE`, every `detect_every` frames; in between the tracked boxes are reused.
  MTCNN (:mod:`ferviz.faces.detection`, 0.1-0.7 s a photo here) stays the detector for still photos.
- **track**: detections are matched to tracked faces by box IoU (greedy, best pair first), then
  the rest by centre distance (under `max_jump` box sides: a face that moved further than its
  box between two detections at a low frame rate keeps its track and smoothing); a face
  missed by the detector is kept for `max_age` frames, so boxes and labels do not flicker.
- **crop**: FER2013-style 48x48 crops (:func:`ferviz.faces.detection.crop_face`), faces smaller than the
  model's input (`min_face`, 48 px) are not classified but marked "too small: move closer".
- **predict**: one traced model call per frame for all faces and all the card's test-time views
  (the same probabilities as the still-photo analysis), then an exponential moving average per
  tracked face: ``p = alpha * p_new + (1 - alpha) * p_old`` (:func:`ema`).
- **Grad-CAM**: for the largest classified face only, a single view (no test-time augmentation,
  for speed; the frame says so), for its smoothed top emotion.
- **draw**: boxes, top-3 labels, the Grad-CAM overlay inside the main face's crop square and
  the frames per second (:class:`FpsCounter`) on the frame.

No Streamlit or WebRTC here: :mod:`ferviz.ui.live` feeds it frames from the browser's camera.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from ..errors import FaceError
from ..labels import NAMES, width
from .detection import FACE_SIZE, Box, crop_face

DETECT_SIDE = 320  # Haar runs on a copy this long (5 ms at 320x240 vs 9 ms at 640x480 here)
HAAR_FILE = "haarcascade_frontalface_default.xml"
IOU_MATCH = 0.3
MAIN_COLOUR = (255, 200, 0)  # RGB, as faces.annotate_boxes
FACE_COLOUR = (0, 220, 90)
SMALL_COLOUR = (160, 160, 160)

Detector = Callable[[np.ndarray], list[Box]]  # grayscale frame -> boxes (x, y, w, h)


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two (x, y, w, h) boxes (0.0 when either is empty)."""
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    iw = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    ih = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    inter = iw * ih
    union = aw * ah + bw * bh - inter
    return float(inter / union) if union > 0 else 0.0


def ema(prev: np.ndarray | None, new: np.ndarray, alpha: float) -> np.ndarray:
    """Exponential moving average: `new` itself first, then alpha * new + (1 - alpha) * prev."""
    new = np.asarray(new, np.float32)
    if prev is None:
        return new.copy()
    return (alpha * new + (1.0 - alpha) * np.asarray(prev, np.float32)).astype(np.float32)


class FpsCounter:
    """Frames per second over the last `window` frames (0.0 until two frames were seen)."""

    def __init__(self, window: int = 30, clock: Callable[[], float] = time.perf_counter):
        if window < 2:
            raise FaceError(f"window must be at least 2 frames, got {window}")
        self._times: deque[float] = deque(maxlen=int(window))
        self._clock = clock

    def tick(self) -> float:
        """Record a frame now; return the current rate."""
        self._times.append(self._clock())
        return self.fps

    @property
    def fps(self) -> float:
        if len(self._times) < 2 or self._times[-1] <= self._times[0]:
            return 0.0
        return (len(self._times) - 1) / (self._times[-1] - self._times[0])


class HaarDetector:
    """OpenCV's frontal-face Haar cascade on a downscaled grayscale frame.

    `min_size` is the smallest face (frame pixels) it looks for; the cascade's 24 px window at
    the detection scale sets a floor (48 px on a 640x480 frame at `DETECT_SIDE` 320)."""

    name = "haar"

    def __init__(self, *, max_side: int = DETECT_SIDE, scale_factor: float = 1.15, min_neighbors: int = 5,
                 min_size: int = 40):
        import cv2

        self._cv2 = cv2
        path = cv2.data.haarcascades + HAAR_FILE
        self._cascade = cv2.CascadeClassifier(path)
        if self._cascade.empty():
            raise FaceError(f"OpenCV could not load its Haar cascade {path}")
        self.max_side, self.scale_factor = int(max_side), float(scale_factor)
        self.min_neighbors, self.min_size = int(min_neighbors), int(min_size)
        self._lock = threading.Lock()  # a CascadeClassifier is not safe across threads

    def __call__(self, gray: np.ndarray) -> list[Box]:
        cv2 = self._cv2
        h, w = gray.shape[:2]
        s = min(1.0, self.max_side / max(h, w))
        small = gray if s == 1.0 else cv2.resize(gray, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
        m = max(20, round(self.min_size * s))
        with self._lock:
            found = self._cascade.detectMultiScale(small, self.scale_factor, self.min_neighbors, minSize=(m, m))
        boxes = [tuple(int(round(v / s)) for v in b) for b in np.asarray(found).reshape(-1, 4)]
        return sorted(boxes, key=lambda b: (-b[2] * b[3], b))


@dataclass
class Track:
    """One face followed across frames: its smoothed box and probabilities."""

    id: int
    box: tuple[float, float, float, float]
    probs: np.ndarray | None = None
    age: int = 0  # frames since the detector last saw it
    hits: int = 1


class FaceTracker:
    """Boxes matched frame to frame by IoU; boxes are smoothed with `box_alpha`, probabilities with
    `alpha` (:func:`ema`); a face unseen for more than `max_age` frames is dropped."""

    def __init__(self, *, alpha: float = 0.4, box_alpha: float = 0.6, max_age: int = 5,
                 iou_match: float = IOU_MATCH, max_jump: float = 1.0):
        if not 0.0 < alpha <= 1.0 or not 0.0 < box_alpha <= 1.0:
            raise FaceError(f"smoothing factors must lie in (0, 1], got {alpha}, {box_alpha}")
        self.alpha, self.box_alpha, self.max_age, self.iou_match = alpha, box_alpha, int(max_age), iou_match
        self.max_jump = float(max_jump)
        self.tracks: list[Track] = []
        self._next = 1

    def score(self, track_box: Sequence[float], box: Sequence[float]) -> float | None:
        """How well a detection continues a track: 1 + IoU when the IoU reaches `iou_match`, else
        1 - (centre distance in box sides) when under `max_jump` and of similar size, else None."""
        s = iou(track_box, box)
        if s >= self.iou_match:
            return 1.0 + s
        ta, ba = max(track_box[2], track_box[3]), max(box[2], box[3])
        if not 0.5 <= ba / max(ta, 1e-9) <= 2.0:
            return None
        d = np.hypot(track_box[0] + track_box[2] / 2 - box[0] - box[2] / 2,
                     track_box[1] + track_box[3] / 2 - box[1] - box[3] / 2) / max(ta, ba)
        return float(1.0 - d) if d <= self.max_jump else None

    def update(self, boxes: Sequence[Box]) -> list[Track]:
        """Match this frame's detections to the tracks; return the live tracks, largest first."""
        pairs = sorted(((s, i, j) for i, t in enumerate(self.tracks) for j, b in enumerate(boxes)
                        if (s := self.score(t.box, b)) is not None), reverse=True)
        used_t, used_b = set(), set()
        for _, i, j in pairs:
            if i in used_t or j in used_b:
                continue
            used_t.add(i)
            used_b.add(j)
            t = self.tracks[i]
            t.box = tuple(self.box_alpha * np.asarray(boxes[j], float) + (1 - self.box_alpha) * np.asarray(t.box))
            t.age, t.hits = 0, t.hits + 1
        for i, t in enumerate(self.tracks):
            if i not in used_t:
                t.age += 1
        self.tracks = [t for t in self.tracks if t.age <= self.max_age]
        for j, b in enumerate(boxes):
            if j not in used_b:
                self.tracks.append(Track(self._next, tuple(float(v) for v in b)))
                self._next += 1
        return self.live()

    def live(self) -> list[Track]:
        return sorted(self.tracks, key=lambda t: (-t.box[2] * t.box[3], t.id))

    def smooth(self, track: Track, probs: np.ndarray) -> np.ndarray:
        track.probs = ema(track.probs, probs, self.alpha)
        return track.probs

    def reset(self) -> None:
        self.tracks, self._next = [], 1


@dataclass(frozen=True)
class LiveFace:
    """A face on one frame: tracked id, box, smoothed probabilities (column k = class k of
    :data:`ferviz.labels.NAMES`, 0 for a class the model cannot output; None when too small)."""

    track_id: int
    box: Box
    crop_box: Box | None
    probs: np.ndarray | None
    too_small: bool = False

    def top(self, k: int = 3) -> list[tuple[str, float]]:
        if self.probs is None:
            return []
        order = np.argsort(-self.probs, kind="stable")[:k]
        return [(NAMES[i], float(self.probs[i])) for i in order]


@dataclass(frozen=True)
class LiveResult:
    """What a frame gave: faces (largest first), the main face's index, the rate, the stage times
    (seconds) and a message for the user when there is nothing to show."""

    faces: tuple[LiveFace, ...]
    main: int | None
    fps: float
    timings: dict[str, float] = field(default_factory=dict)
    message: str | None = None
    detected: bool = True  # the detector ran on this frame (else boxes were carried over)
    time: float = 0.0


class LiveAnalyser:
    """Frames in, annotated frames and :class:`LiveResult` out (see the module docstring).

    `model` None: boxes only, with a "no model" message on the frame. Not for concurrent
    calls; :attr:`latest` and :meth:`last_frame` may be read from another thread."""

    def __init__(self, model, card, *, detector: Detector | None = None, detect_every: int = 2,
                 alpha: float = 0.4, max_age: int = 5, min_face: int = FACE_SIZE, gradcam: bool = True,
                 tta: bool = True, cmap: str = "viridis", overlay_alpha: float = 0.45,
                 clock: Callable[[], float] = time.perf_counter):
        if detect_every < 1:
            raise FaceError(f"detect_every must be at least 1, got {detect_every}")
        self.model, self.card = model, card
        self.detector = detector or HaarDetector(min_size=min(40, int(min_face)))
        self.detect_every, self.min_face = int(detect_every), int(min_face)
        self.gradcam, self.tta, self.overlay_alpha = bool(gradcam), bool(tta), float(overlay_alpha)
        self.tracker = FaceTracker(alpha=alpha, max_age=max_age)
        self.fps = FpsCounter(clock=clock)
        self._clock = clock
        self._lut = None
        self._cmap = cmap
        self._frame_no = 0
        self._shape: tuple[int, ...] | None = None
        self._lock = threading.Lock()
        self._last_frame: np.ndarray | None = None
        self.latest: LiveResult | None = None

    # ------------------------------------------------------------------ per frame

    def process(self, frame: np.ndarray, *, bgr: bool = False) -> tuple[np.ndarray, LiveResult]:
        """Analyse one frame; return a new annotated frame (same channel order) and the result."""
        import cv2

        frame = np.asarray(frame)
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise FaceError(f"expected an (H, W, 3) uint8 frame, got {frame.dtype} {frame.shape}")
        rgb = np.ascontiguousarray(frame[..., ::-1] if bgr else frame)
        with self._lock:
            self._last_frame = rgb.copy()
        t = {}
        t0 = self._clock()
        if rgb.shape != self._shape:  # a new stream or a resolution change: old boxes mean nothing
            self.tracker.reset()
            self._shape, self._frame_no = rgb.shape, 0
        detected = self._frame_no % self.detect_every == 0
        self._frame_no += 1
        if detected:
            gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
            tracks = self.tracker.update(self.detector(gray))
        else:
            tracks = self.tracker.live()
        t1 = self._clock()
        t["detect"] = t1 - t0

        H, W = rgb.shape[:2]
        boxes = [_clip_box(tr.box, W, H) for tr in tracks]
        ok = [i for i, b in enumerate(boxes) if b is not None and max(b[2], b[3]) >= self.min_face]
        crops, crop_boxes = [], {}
        for i in ok:
            c, cb = crop_face(rgb, boxes[i])
            crops.append(c)
            crop_boxes[i] = cb
        t2 = self._clock()
        t["crop"] = t2 - t1

        probs = {}
        if crops and self.model is not None:
            raw = self.predict(np.stack(crops))
            probs = {i: self.tracker.smooth(tracks[i], p) for i, p in zip(ok, raw)}
        t3 = self._clock()
        t["predict"] = t3 - t2

        faces = tuple(LiveFace(tr.id, b, crop_boxes.get(i), probs.get(i), b is not None and i not in crop_boxes)
                      for i, (tr, b) in enumerate(zip(tracks, boxes)) if b is not None)
        main = next((k for k, f in enumerate(faces) if f.probs is not None), None)
        cam = None
        if main is not None and self.gradcam:
            k = ok.index(next(i for i in ok if tracks[i].id == faces[main].track_id))
            cam = self.explain(crops[k], int(np.argmax(faces[main].probs)))
        t4 = self._clock()
        t["gradcam"] = t4 - t3

        fps = self.fps.tick()
        result = LiveResult(faces, main, fps, t, self._message(faces), detected, t4)
        out = self.draw(rgb, result, cam)
        t["draw"] = self._clock() - t4
        t["total"] = sum(v for k, v in t.items() if k != "total")
        self.latest = result
        return (np.ascontiguousarray(out[..., ::-1]) if bgr else out), result

    def predict(self, crops: np.ndarray) -> np.ndarray:
        """Probabilities (K, C) for uint8 crops (K, 48, 48), column c = class c of
        :data:`ferviz.labels.NAMES` (C covers the model's classes, 0 for one it lacks): the card's
        test-time views of every face in one traced model call (`tta=False`: the faces alone)."""
        import tensorflow as tf

        from ..analysis.evaluation import (
            _forward,
            as_probabilities,
            check_finite,
            tta_views,
        )
        from ..models import output_head, preprocess

        x = preprocess(crops, self.card.input)
        views = tta_views(x, self.card.tta if self.tta else None)
        out = _forward(self.model)(tf.constant(np.concatenate(views))).numpy()
        out = as_probabilities(out, output_head(self.model))
        p = out.reshape(len(views), len(x), -1).mean(axis=0)
        check_finite(self.card, int((~np.isfinite(p)).any(axis=1).sum()), len(p))
        fer = np.zeros((len(p), width(self.card.classes)), np.float32)
        fer[:, self.card.output_to_fer] = p
        return fer

    def explain(self, crop: np.ndarray, target: int) -> np.ndarray:
        """Grad-CAM (48, 48) in [0, 1] of one crop for a class the model can output, single view."""
        from ..attribution import get_explainer

        return get_explainer(self.model, self.card, "gradcam")(crop[None], np.array([target]), views="single")[0]

    def warm_up(self) -> None:
        """Trace the model and Grad-CAM once (the first traced call takes seconds, not milliseconds)."""
        if self.model is not None:
            blank = np.full((1, FACE_SIZE, FACE_SIZE), 128, np.uint8)
            self.predict(blank)
            if self.gradcam:
                self.explain(blank[0], self.card.class_ids[0])

    def last_frame(self) -> np.ndarray | None:
        """A copy of the last frame received (RGB, not annotated): what a snapshot freezes."""
        with self._lock:
            return None if self._last_frame is None else self._last_frame.copy()

    def reset(self) -> None:
        """Forget tracked faces and the frame rate (e.g. when the stream restarts)."""
        self.tracker.reset()
        self.fps = FpsCounter(clock=self._clock)
        self._frame_no = 0

    def _message(self, faces: Sequence[LiveFace]) -> str | None:
        if not faces:
            return f"No face found: face the camera and move closer (faces under {self.min_face} px are missed)"
        if self.model is None:
            return "No model loaded: boxes only"
        if all(f.too_small for f in faces):
            return f"Face too small for the {FACE_SIZE}x{FACE_SIZE} model input: move closer"
        return None

    # ------------------------------------------------------------------ drawing

    def draw(self, rgb: np.ndarray, result: LiveResult, cam: np.ndarray | None = None) -> np.ndarray:
        """A copy of the frame with the Grad-CAM overlay, boxes, top-3 labels, fps and message."""
        import cv2

        out = rgb.copy()
        H, W = out.shape[:2]
        scale = max(0.4, min(W, H) / 800)
        if cam is not None and result.main is not None:
            self._overlay(out, result.faces[result.main].crop_box, cam)
        for k, f in enumerate(result.faces):
            x, y, w, h = f.box
            colour = SMALL_COLOUR if f.too_small else MAIN_COLOUR if k == result.main else FACE_COLOUR
            cv2.rectangle(out, (x, y), (x + w - 1, y + h - 1), colour, max(2, round(3 * scale)))
            lines = ([f"{k + 1}: too small, move closer"] if f.too_small else
                     [f"{k + 1}: {e} {p:.0%}" if j == 0 else f"   {e} {p:.0%}" for j, (e, p) in enumerate(f.top())]
                     or [str(k + 1)])
            _label(out, lines, x, y + h + 4, colour, scale)
        head = f"{result.fps:4.1f} fps"
        if result.main is not None and cam is not None:
            head += " | Grad-CAM (single view) on the yellow face"
        _label(out, [head], 6, 6, (255, 255, 255), scale * 1.2)
        if result.message:
            _label(out, [result.message], 6, H - 6, (255, 230, 120), scale, anchor_bottom=True)
        return out

    def _overlay(self, out: np.ndarray, box: Box | None, cam: np.ndarray) -> None:
        import cv2

        if box is None:
            return
        if self._lut is None:
            from ..figures.overlay import colormap_lut

            self._lut = colormap_lut(self._cmap)
        x0, y0, side, _ = box
        H, W = out.shape[:2]
        ix0, iy0, ix1, iy1 = max(0, x0), max(0, y0), min(W, x0 + side), min(H, y0 + side)
        if ix1 <= ix0 or iy1 <= iy0:
            return
        m = cv2.resize(np.asarray(cam, np.float32), (side, side), interpolation=cv2.INTER_LINEAR)
        m = m[iy0 - y0:iy1 - y0, ix0 - x0:ix1 - x0]
        heat = self._lut[np.clip(m * 255, 0, 255).astype(np.uint8)]
        region = out[iy0:iy1, ix0:ix1]
        a = self.overlay_alpha
        out[iy0:iy1, ix0:ix1] = cv2.addWeighted(region, 1 - a, heat, a, 0)


def draw_message(frame: np.ndarray, text: str) -> np.ndarray:
    """A copy of an RGB frame with `text` at its bottom (e.g. why it was not analysed)."""
    out = np.array(frame, np.uint8)
    _label(out, [text], 6, out.shape[0] - 6, (255, 230, 120), max(0.4, min(out.shape[:2]) / 800),
           anchor_bottom=True)
    return out


def _clip_box(box: Sequence[float], W: int, H: int) -> Box | None:
    """A tracked (float) box as ints, cut to the frame; None when nothing of it is inside."""
    x0, y0 = max(0, round(box[0])), max(0, round(box[1]))
    x1, y1 = min(W, round(box[0] + box[2])), min(H, round(box[1] + box[3]))
    return (x0, y0, x1 - x0, y1 - y0) if x1 > x0 and y1 > y0 else None


def _label(img: np.ndarray, lines: Sequence[str], x: int, y: int, colour: tuple[int, int, int], scale: float,
           *, anchor_bottom: bool = False) -> None:
    """Text lines on a dark box at (x, y) (its top-left, or bottom-left with `anchor_bottom`), kept inside."""
    import cv2

    font, thick = cv2.FONT_HERSHEY_SIMPLEX, max(1, round(2 * scale))
    H, W = img.shape[:2]
    widest = max(cv2.getTextSize(s, font, scale, thick)[0][0] for s in lines) + 8
    if widest > W:  # shrink to fit the frame's width
        scale *= W / widest
        thick = max(1, round(2 * scale))
    sizes = [cv2.getTextSize(s, font, scale, thick) for s in lines]
    lh = max(s[0][1] + s[1] for s in sizes) + 4
    bw = max(s[0][0] for s in sizes) + 8
    bh = lh * len(lines) + 4
    top = y - bh if anchor_bottom else y
    x = int(min(max(0, x), max(0, W - bw)))
    top = int(min(max(0, top), max(0, H - bh)))
    sub = img[top:top + bh, x:x + bw]
    sub[:] = (sub.astype(np.uint16) * 2 // 5).astype(np.uint8)  # darken behind the text
    for k, s in enumerate(lines):
        base = top + 2 + lh * (k + 1) - sizes[k][1] - 2
        cv2.putText(img, s, (x + 4, base), font, scale, colour, thick, cv2.LINE_AA)
