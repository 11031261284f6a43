"""``python -m ferviz explain``: attribution overlays and maps for chosen FER2013 images.

Images are picked by id, by confusion cell (``--cell TRUE:PRED``, names or indices, most
confident first) or as all errors; each gets one overlay PNG named
``<model>_<split>_<id>_<method>_<target>.png`` and all maps go to ``maps.npz``
(maps, ids, targets, labels, preds, blank, views). Maps follow the card's test-time views, like
the predictions (``--views single`` for one forward pass), and come from the attribution disk
cache. A map with no positive evidence is flagged in ``blank`` and named on the terminal.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from .cli import command, model_data_args, parse_cell, progress_bar


def _args(p):
    from .attribution import METHODS

    model_data_args(p)
    pick = p.add_mutually_exclusive_group(required=True)
    pick.add_argument("--ids", nargs="+", metavar="ID", help="image ids in the split")
    pick.add_argument("--cell", metavar="TRUE:PRED", help="a confusion cell, e.g. fear:sad or 2:4")
    pick.add_argument("--errors", action="store_true", help="all misclassified images, most confident first")
    p.add_argument("--method", default="gradcam", choices=list(METHODS))
    p.add_argument("--target", default="pred", help="pred, true, or a class name/index (default pred)")
    p.add_argument("--views", choices=["tta", "single"], default="tta",
                   help="tta: the card's test-time views, as the prediction (default); single: one forward pass")
    p.add_argument("--limit", type=int, help="at most this many images")
    p.add_argument("--alpha", type=float, default=0.5, help="overlay opacity (default 0.5)")
    p.add_argument("--size", type=int, default=192, help="PNG side in pixels (default 192)")
    p.add_argument("--out", required=True, help="output folder")




def _positions(a, card, split, model) -> np.ndarray:
    from .evaluation import evaluate

    if a.ids:
        pos = np.array([split.index_of(i) for i in a.ids], int)
    else:
        true, pred = parse_cell(a.cell) if a.cell else (None, None)
        bar, update = progress_bar(desc="predicting")
        try:
            ev = evaluate(card, split, model=model, progress=update)
        finally:
            bar.close()
        pos = ev.errors(true, pred)["pos"].to_numpy()
        if not len(pos):
            raise ValueError(f"no images in {'cell ' + a.cell if a.cell else 'the errors'} of {split.split}")
    if a.limit is not None:
        if a.limit < 1:
            raise ValueError(f"--limit must be at least 1, got {a.limit}")
        pos = pos[:a.limit]
    return pos


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.-]+", "-", str(text)).strip("-") or "image"


@command("explain", "attribution overlays (Grad-CAM, Grad-CAM++, XRAI, IG) for chosen images")(_args)
def _run(a) -> int:
    from PIL import Image

    from .attribution import blank_maps, blank_message, cached_explain, check_method, get_explainer, \
        resolve_targets, views_label
    from .data import load_fer2013
    from .evaluation import predict_probs
    from .labels import EMOTIONS
    from .models import find_card, load_model
    from .overlay import overlay

    check_method(a.method)
    if not 0.0 <= a.alpha <= 1.0:
        raise ValueError(f"--alpha must lie in [0, 1], got {a.alpha}")
    if not 16 <= a.size <= 2048:
        raise ValueError(f"--size must be in 16-2048, got {a.size}")
    card = find_card(a.model)
    split = load_fer2013(a.data, a.split)
    model = load_model(card)
    sub = split.subset(_positions(a, card, split, model))
    probs = predict_probs(model, card, sub.images)
    targets = resolve_targets(a.target, probs, sub.labels)
    bar, update = progress_bar(desc=f"{a.method} on {len(sub)} images")
    try:
        maps = cached_explain(model, card, sub.images, sub.ids, split.data_hash, targets, a.method,
                              views=a.views, progress=update, chunk=16)
    finally:
        bar.close()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    for face, m, image_id, t in zip(sub.images, maps, sub.ids, targets):
        name = f"{_safe(card.key)}_{_safe(sub.split)}_{_safe(image_id)}_{a.method}_{EMOTIONS[t]}.png"
        Image.fromarray(overlay(face, m, a.alpha, size=(a.size, a.size))).save(out / name)
    blank = blank_maps(maps)
    views = views_label(card, a.views)
    np.savez(out / "maps.npz", maps=maps, ids=sub.ids.astype(str), targets=targets, labels=sub.labels,
             preds=probs.argmax(axis=1), method=np.array(a.method), blank=blank, views=np.array(views))
    layer = getattr(get_explainer(model, card, a.method), "layer", None)
    for image_id, t in zip(sub.ids[blank], targets[blank]):
        print(f"{image_id}: {blank_message(a.method, t, layer)} (blank map)")
    print(f"{card.name}: {a.method} ({views}) for {len(sub)} {sub.split} images -> {out}"
          + (f"; {int(blank.sum())} blank" if blank.any() else ""))
    return 0
