"""The stress test in the app: the whole split under every perturbation runs as a background job
(one per model and split in a process, shared by every visitor), whose evaluations land in the
disk cache one by one; pages read what is cached. Also the inspector's strip: one face under each
perturbation with the model's prediction."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import numpy as np
import streamlit as st

from ..analysis import stress as core
from ..analysis.perturbations import PERTURBATIONS, describe, perturb
from ..labels import NAMES
from . import resources


@dataclass
class Job:
    """A background run of the whole stress test for one model and split."""

    total: int
    done: int = 0
    current: str = ""
    error: str | None = None
    started: float = field(default_factory=time.monotonic)
    thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def left(self) -> str:
        spent = time.monotonic() - self.started
        if self.done == 0 or spent < 5:
            return ""
        return f" · about {resources._duration(spent * (self.total - self.done) / self.done)} left"


_JOBS: dict[tuple, Job] = {}
_LOCK = threading.Lock()


def _key(card, split) -> tuple:
    return card.compute_key(), split.data_hash


def job(card, split) -> Job | None:
    """The background job of this model and split in this process, if one was started."""
    with _LOCK:
        return _JOBS.get(_key(card, split))


def start(card, split, data_path) -> Job:
    """Start (or return the running) background job evaluating every missing (perturbation, severity)."""
    from ..data.landmarks import cached_landmarks
    from ..analysis.evaluation import evaluate

    with _LOCK:
        j = _JOBS.get(_key(card, split))
        if j is not None and j.running:
            return j
        todo = [t for t in core.plan() if not core.is_cached(card, split, *t)]
        j = Job(total=len(todo))
        model = resources.model_for(card)

        def work() -> None:
            try:
                points = cached_landmarks(split.images, split.data_hash).points
                for name, s in todo:
                    j.current = describe(name, s)
                    evaluate(card, core.perturbed_split(split, name, s, points=points), model=model)
                    j.done += 1
            except Exception as e:  # reported on the page; the finished evaluations stay cached
                j.error = str(e) or type(e).__name__
        j.thread = threading.Thread(target=work, name=f"ferviz-stress-{card.key}", daemon=True)
        _JOBS[_key(card, split)] = j
        j.thread.start()
        return j


@st.cache_resource(show_spinner=False, max_entries=16)
def _results(card_path: str, card_key: str, data_path: str, split: str, data_hash: str, cached: int):
    from ..models import load_card

    card = load_card(card_path)
    return core.stress_test(card, resources._current_split(data_path, split), only_cached=True, model=None)


def results(card, split, data_path=None) -> core.StressResult:
    """The stress test from what is cached, read from disk once per count of cached copies (a
    rerun with nothing new reads nothing)."""
    have, _ = core.cached_count(card, split)
    return _results(str(card.path), card.compute_key(), data_path or "", split.split, split.data_hash, have)


@st.cache_data(show_spinner=False, max_entries=64, ttl=600)
def _strip_probs(card_path: str, card_key: str, face: bytes, shape: tuple, severity: int, data_hash: str,
                 image_id: str, points: bytes | None) -> tuple[list[str], np.ndarray, np.ndarray]:
    from ..analysis.evaluation import predict_probs
    from ..models import load_card

    card = load_card(card_path)
    x = np.frombuffer(face, np.uint8).reshape(shape)[None]
    pts = None if points is None else np.frombuffer(points, np.float32).reshape(1, 5, 2)
    names = [n for n in PERTURBATIONS if severity in PERTURBATIONS[n].severities or n == "mirror"]
    views = np.concatenate([perturb(x, n, 1 if n == "mirror" else severity, points=pts) for n in names])
    return names, views, predict_probs(resources.model_for(card), card, views)


def face_strip(ctx, face: np.ndarray, *, key: str, image_id: str, true: int, pos: int | None = None) -> None:
    """One face under every perturbation at a chosen severity, each with the model's prediction
    (red where it differs from the prediction on the face as it is)."""
    sev = st.select_slider("Severity", options=[1, 2, 3, 4, 5], value=3, key=f"{key}_stress_sev",
                           help="Each perturbation at this severity (mirror has one); the Stress test page says "
                                "what each severity is.")
    points = None
    if pos is not None:
        try:
            lm = resources.landmarks(ctx.split, ctx.data_path)
            points = lm.points[pos].astype(np.float32).tobytes()
        except Exception:  # the template's regions stand in
            points = None
    f = np.ascontiguousarray(face, np.uint8)
    names, views, probs = _strip_probs(str(ctx.card.path), ctx.card.compute_key(), f.tobytes(), f.shape, int(sev),
                                       ctx.split.data_hash if ctx.split else "", image_id, points)
    base = int(resources.evaluation(ctx.card, ctx.split, ctx.data_path).probs[pos].argmax()) if pos is not None \
        else None
    cols = st.columns(7)
    for i, (name, img, p) in enumerate(zip(names, views, probs)):
        k = int(p.argmax())
        changed = base is not None and k != base
        mark = ":red" if changed else ":green" if k == true else ""
        with cols[i % 7]:
            st.image(img, width=72, caption=PERTURBATIONS[name].label)
            st.markdown(f"{mark}[{NAMES[k]} {p[k]:.0%}]" if mark else f"{NAMES[k]} {p[k]:.0%}")
    st.caption("Red: the prediction changed from the face as it is; green: still the true class.")
