"""Attribution maps for any loaded FER model, behind one call shape.

>>> maps = explain(model, card, faces, targets=resolve_targets("pred", probs), method="gradcam")

Every method returns (N, H, W) float32 maps in [0, 1] at the size of the uint8 faces,
whatever input size, channels, pixel scale and class order the card declares; targets
are class indices of :data:`ferviz.labels.NAMES` (0 angry ... 6 neutral, 7 contempt) that the
model can output (another is refused, naming the model's classes). Gradients always run inside
``tf.function`` (eager gradients crash on Xception/ResNet-style models on oneDNN CPUs,
see :mod:`.gradients`), and the model passed in is never modified.
"""
from __future__ import annotations

from .base import VIEW_LABELS, VIEW_MODES, Explainer, blank_maps, check_views
from .cache import cached_explain, precompute
from .gradients import gradcam_layer
from .methods import (
    METHODS,
    blank_message,
    check_method,
    explain,
    get_explainer,
    mean_map,
    resolve_targets,
    views_label,
)

__all__ = ["METHODS", "VIEW_LABELS", "VIEW_MODES", "Explainer", "blank_maps", "blank_message", "cached_explain",
           "check_method", "check_views", "explain", "get_explainer", "gradcam_layer", "mean_map", "precompute",
           "resolve_targets", "views_label"]
