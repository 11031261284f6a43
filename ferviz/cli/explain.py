"""``python -m ferviz explain``: attribution overlays and maps for chosen FER2013 images.

Images are picked by id, by confusion cell (``--cell TRUE:PRED``, names or indices, most
confident first) or as all errors; each gets one overlay PNG (``--px`` pixels a side) named
``<model>_<split>_<id>_<method>_<target>.png`` and all maps go to ``maps.npz``
(maps, ids, targets, labels, preds, blank, views). Maps follow the card's test-time views, like
the predictions (``--views single`` for one forward pass), and come from the attribution disk
cache. A map with no positive evidence is flagged in ``blank`` and named on the terminal.
"""
from __future__ import annotations

import re
from pathlib import Path

from ..errors import DataError
from . import args as A


def add_arguments(p) -> None:
    A.add_model_data(p)
    pick = p.add_mutually_exclusive_group(required=True)
    pick.add_argument("--ids", nargs="+", metavar="ID", help="image ids in the split")
    pick.add_argument("--cell", type=A.cell, metavar="TRUE:PRED",
                      help="a confusion cell, e.g. fear:sad, 2:4 or contempt:neutral (the predicted class must be "
                           "one the model can output)")
    pick.add_argument("--errors", action="store_true", help="all misclassified images, most confident first")
    A.add_method(p)
    p.add_argument("--target", type=A.target, default="pred",
                   help="pred, true, or a class name/index (default pred)")
    A.add_views(p)
    p.add_argument("--limit", type=A.positive_int, help="at most this many images")
    p.add_argument("--alpha", type=A.opacity, default=0.5, help="overlay opacity 0-1 (default 0.5)")
    lo, hi = A.PX_RANGE
    p.add_argument("--px", type=A.px, default=192, dest="px",
                   help=f"side of each overlay PNG in pixels, {lo}-{hi} (default 192; formerly --size, "
                        "still accepted but deprecated)")
    A.deprecated_alias(p, "--size", "--px", dest="px", type=A.px)
    A.add_out(p)


def _positions(a, card, split, model):
    import numpy as np

    from ..labels import NAMES
    from .common import evaluated

    if a.ids:
        pos = np.array([split.index_of(i) for i in a.ids], int)
    else:
        true, pred = a.cell if a.cell else (None, None)
        ev = evaluated(card, split, "predicting", model=model)
        pos = ev.errors(true, pred)["pos"].to_numpy()
        if not len(pos):
            what = f"cell {NAMES[true]}:{NAMES[pred]}" if a.cell else "the errors"
            raise DataError(f"no images in {what} of {split.split}")
    if a.limit is not None:
        pos = pos[:a.limit]
    return pos


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.-]+", "-", str(text)).strip("-") or "image"


def run(a) -> int:
    import numpy as np
    from PIL import Image

    from ..analysis.evaluation import predict_probs
    from ..attribution import (
        blank_maps,
        blank_message,
        cached_explain,
        get_explainer,
        resolve_targets,
        views_label,
    )
    from ..figures.overlay import overlay
    from ..labels import NAMES, class_index
    from ..models import find_card, load_model
    from .common import load_split, model_class, progress

    card = find_card(a.model)
    if a.cell:
        model_class(card, a.cell[1], f"--cell {NAMES[a.cell[0]]}:{NAMES[a.cell[1]]}")
    if a.target not in ("pred", "true"):
        model_class(card, class_index(a.target), "--target")
    split = load_split(a)
    model = load_model(card)
    sub = split.subset(_positions(a, card, split, model))
    probs = predict_probs(model, card, sub.images)
    targets = resolve_targets(a.target, probs, sub.labels, card=card)
    with progress(f"{a.method} on {len(sub)} images") as update:
        maps = cached_explain(model, card, sub.images, sub.ids, split.data_hash, targets, a.method,
                              views=a.views, progress=update, chunk=16)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    for face, m, image_id, t in zip(sub.images, maps, sub.ids, targets):
        name = f"{_safe(card.key)}_{_safe(sub.split)}_{_safe(image_id)}_{a.method}_{_safe(NAMES[t])}.png"
        Image.fromarray(overlay(face, m, a.alpha, size=(a.px, a.px))).save(out / name)
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
