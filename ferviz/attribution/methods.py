"""The method table and the one call shape every attribution method is used through."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import AttributionError
from ..labels import NAMES, class_index
from ..models import ModelCard, ModelMemo
from .base import Explainer, check_views
from .gradcam import GradCAM
from .gradcampp import GradCAMPlusPlus
from .integrated_gradients import IntegratedGradients
from .smoothgrad import SmoothGrad
from .xrai import XRAI

METHODS: dict[str, str] = {
    "gradcam": "Grad-CAM",
    "gradcampp": "Grad-CAM++",
    "xrai": "XRAI",
    "ig": "Integrated gradients",
    "smoothgrad": "SmoothGrad",
}
_CLASSES: dict[str, type[Explainer]] = {"gradcam": GradCAM, "gradcampp": GradCAMPlusPlus, "xrai": XRAI,
                                        "ig": IntegratedGradients, "smoothgrad": SmoothGrad}
_EXPLAINERS = ModelMemo()  # model object -> {(method, card identity): explainer}; dropped with the model


def check_method(method: str) -> str:
    """The method's key; ValueError lists the known methods."""
    if method not in _CLASSES:
        raise AttributionError(f"unknown attribution method {method!r}; choose one of {', '.join(METHODS)}")
    return method


def get_explainer(model, card: ModelCard, method: str = "gradcam") -> Explainer:
    """The explainer for (model, card, method), built once per model object and reused for every
    batch: kept in a weakly keyed memo beside the model (nothing is set on it), per method and the
    card's identity (:meth:`ModelCard.identity` without the file hash, the model object standing for
    the weights), so two cards of one model that differ in input, classes, views or Grad-CAM layer
    get their own explainer and renaming a card does not rebuild one."""
    check_method(method)
    key = (method, card.identity(with_file=False))
    return _EXPLAINERS.get(model, key, lambda: _CLASSES[method](model, card))


def explain(model, card: ModelCard, images: np.ndarray, targets: Any, method: str = "gradcam",
            views: str = "tta", **params: Any) -> np.ndarray:
    """Maps (N, H, W) float32 in [0, 1] for uint8 faces (N, H, W) and FER targets (N,) or one int.

    ``views="tta"`` follows the card's test-time augmentation (the maps explain the averaged
    prediction that is shown); ``views="single"`` explains one forward pass on the face."""
    return get_explainer(model, card, method)(images, targets, views=views, **params)


def resolve_targets(which: str | int, probs: np.ndarray, labels: np.ndarray | None = None, *,
                    card: ModelCard | None = None) -> np.ndarray:
    """Target class per image (indices into :data:`ferviz.labels.NAMES`): "pred" (argmax of
    probs), "true" (labels), a class name (any alias) or an index. With `card`, a target the
    model cannot output is refused (AttributionError naming the model's classes)."""
    n = len(probs)
    if isinstance(which, str) and which.strip().lower() in ("pred", "predicted"):
        out = np.asarray(probs).argmax(axis=1).astype(np.int64)
    elif isinstance(which, str) and which.strip().lower() in ("true", "label"):
        if labels is None:
            raise AttributionError("target 'true' needs the true labels")
        out = np.asarray(labels, np.int64).copy()
    else:
        try:
            k = class_index(which)
        except ValueError as e:
            raise AttributionError(f"bad target {which!r}: use pred, true, a class name or its index "
                                   f"0-{len(NAMES) - 1} ({e})") from None
        out = np.full(n, k, np.int64)
    if card is not None:
        lacks = sorted(set(out.tolist()) - set(card.class_ids))
        if lacks:
            what = f"target {which!r}" + (" (the true label of some faces)" if str(which).strip().lower()
                                          in ("true", "label") else "")
            raise AttributionError(f"{what}: {card.name} cannot output {', '.join(NAMES[k] for k in lacks)}; "
                                   f"its classes are {', '.join(card.model_classes)}")
    return out


def mean_map(maps: np.ndarray) -> np.ndarray:
    """The aggregated (H, W) map of a set of maps (e.g. a confusion cell), scaled to [0, 1]."""
    m = np.asarray(maps, np.float32)
    if m.ndim == 2:
        m = m[None]
    if m.ndim != 3 or len(m) == 0:
        raise AttributionError(f"expected maps (N, H, W) with N >= 1, got shape {np.shape(maps)}")
    avg = np.nan_to_num(m).mean(axis=0)
    lo, hi = float(avg.min()), float(avg.max())
    return ((avg - lo) / (hi - lo) if hi > lo else np.zeros_like(avg)).astype(np.float32)


def views_label(card: ModelCard, views: str = "tta") -> str:
    """How a map was computed, for captions: e.g. "mean of 10 test-time views" or "single view"."""
    from ..models.tta import views as tta_views

    if check_views(views) == "single" or card.tta is None:
        return "single view" + (" (no test-time augmentation)" if card.tta is not None else "")
    return f"mean of {len(tta_views(card.tta, 2, 2))} test-time views ({card.tta})"


def blank_message(method: str, target: int, layer: str | None = None) -> str:
    """The caption shown instead of a flat overlay when a map has no positive evidence."""
    where = f" at layer {layer}" if layer and method in ("gradcam", "gradcampp") else ""
    return f"{METHODS.get(method, method)} finds no positive evidence for {NAMES[int(target)]}{where}"
