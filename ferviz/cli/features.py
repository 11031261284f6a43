"""``python -m ferviz features``: feature maps per block for chosen FER2013 images.

Each image gets one PNG, ``<model>_<split>_<id>_features_<rank>_target-<class>.png`` (the top-k
channels of every block and the Grad-CAM layer's top channel, :mod:`ferviz.export.feature_maps`),
and ``features.npz`` holds what the figures show (:func:`ferviz.analysis.feature_maps.to_arrays`, plus
``ids``, ``labels`` and ``preds``). The maps are a single view of the face (no test-time
augmentation); ``--target pred`` explains the prediction shown, which follows the card's views.
"""
from __future__ import annotations

from pathlib import Path

from . import args as A

RANKS = ("mean", "gradxact")  # literal copy of ferviz.analysis.feature_maps.RANKS (no TensorFlow import to parse)
MAX_TOP = 32  # literal copy of ferviz.analysis.feature_maps.MAX_TOP


def add_arguments(p) -> None:
    A.add_model_data(p)
    p.add_argument("--ids", nargs="+", required=True, metavar="ID", help="image ids in the split")
    p.add_argument("--target", type=A.target, default="pred", help="pred, true, or a class name/index (default pred)")
    p.add_argument("--rank", choices=RANKS, default="mean",
                   help="rank channels by mean activation (default) or by gradient x activation for the target")
    p.add_argument("--top", type=A.int_range(1, MAX_TOP), default=8,
                   help=f"channels shown per block, 1-{MAX_TOP} (default 8)")
    A.add_dpi(p)
    A.add_out(p)


def run(a) -> int:
    import time

    import numpy as np

    from ..analysis.evaluation import predict_probs
    from ..analysis.feature_maps import feature_maps, select, to_arrays
    from ..attribution import resolve_targets
    from ..export import export_filename, figure_bytes
    from ..export.feature_maps import feature_maps_figure
    from ..labels import NAMES, class_index
    from ..models import find_card, load_model

    from .common import load_split, model_class

    card = find_card(a.model)
    if a.target not in ("pred", "true"):
        model_class(card, class_index(a.target), "--target")
    split = load_split(a)
    ids = list(dict.fromkeys(a.ids))
    sub = split.subset(np.array([split.index_of(i) for i in ids], int))
    model = load_model(card)
    probs = predict_probs(model, card, sub.images)
    targets = resolve_targets(a.target, probs, sub.labels, card=card)
    t = time.perf_counter()
    fm = feature_maps(model, card, sub.images, targets)
    feats = [select(fm, i, a.rank, a.top) for i in range(len(sub))]
    seconds = time.perf_counter() - t
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    for face, f, image_id in zip(sub.images, feats, sub.ids):
        fig = feature_maps_figure(face, f, model_name=card.name, image_id=str(image_id), split=sub.split, dpi=a.dpi)
        name = export_filename("image", card.key, sub.split, image_id=str(image_id), method="features",
                               extra=[a.rank, f"target-{NAMES[f.target]}"], fmt="png")
        (out / name).write_bytes(figure_bytes(fig, "png"))
    np.savez(out / "features.npz", ids=sub.ids.astype(str), labels=sub.labels, preds=probs.argmax(axis=1),
             **to_arrays(feats))
    drawn = time.perf_counter() - t
    for image_id, f in zip(sub.ids, feats):
        c = f.gradcam
        print(f"{image_id}: {NAMES[f.target]}, Grad-CAM layer {c.layer} top channel #{c.index} "
              f"({c.share:.1%} of the Grad-CAM evidence)")
    print(f"{card.name}: feature maps of {len(fm.layers)} blocks ({', '.join(fm.layers)}) for {len(sub)} "
          f"{sub.split} images, single view, computed in {seconds:.2f} s, drawn in {drawn:.1f} s -> {out}")
    return 0
