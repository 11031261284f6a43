"""``python -m ferviz export``: annotated figures, cell sheets, confusion matrices, CSV tables.

    python -m ferviz export --model baseline_cnn --split PrivateTest --cell fear:sad \\
        --method gradcam --format png pdf --limit 100 --out exports/

Everything the app exports, in batch: one file per (image or cell or table, format), named
by :func:`ferviz.export.export_filename`, written atomically into --out; each path is
printed on its own line. Predictions come from the disk cache (``evaluate``); overlays
(--method) from ``ferviz.attribution``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from . import args as A

_WHAT = ("ids", "cell", "confusion_matrix", "errors_csv", "per_class_csv", "predictions_csv")
METHOD_LABELS = {"gradcam": "Grad-CAM", "gradcampp": "Grad-CAM++", "xrai": "XRAI"}  # fallback names


#: option value -> the dashboard's sort and filter names (ferviz.analysis.error_views)
SORT_CHOICES = {"confidence": "confidence", "loss": "loss", "label-issue": "label-issue score"}
SHOW_CHOICES = {"all": "all errors", "label-issues": "likely label issue", "model-errors": "likely model error"}


def add_arguments(p) -> None:
    A.add_model_data(p)
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--ids", nargs="+", metavar="ID", help="annotated figure for each image id")
    what.add_argument("--cell", type=A.cell, metavar="TRUE:PRED",
                      help="sheet of one confusion cell, e.g. fear:sad, 2:4 or contempt:neutral (the predicted "
                           "class must be one the model can output)")
    what.add_argument("--confusion-matrix", action="store_true", help="the confusion-matrix figure")
    what.add_argument("--errors-csv", nargs="?", const=True, type=A.cell_or_any, metavar="TRUE:PRED",
                      help="the error table as CSV; optionally of one cell or row/column "
                           "(fear:sad, fear:any, any:sad)")
    what.add_argument("--per-class-csv", action="store_true", help="per-class precision/recall/F1 as CSV")
    what.add_argument("--predictions-csv", action="store_true", help="every image's probabilities as CSV")
    p.add_argument("--normalize", action="store_true", help="row-normalised confusion matrix")
    p.add_argument("--compare", metavar="MODEL2", type=A.non_empty,
                   help="with --ids: a comparison figure of two models per image")
    A.add_method(p, default=None, several=True, help="overlay(s) for --ids/--cell (default none)")
    p.add_argument("--target", type=A.target, default="pred",
                   help="class the overlays explain: pred (default), true, or a class the model can output")
    A.add_formats(p, "figure", default=("png",))
    p.add_argument("--limit", type=A.positive_int,
                   help="at most N images in a cell sheet / rows in the errors CSV")
    p.add_argument("--sort", choices=list(SORT_CHOICES), default="confidence",
                   help="order of cell sheets and the errors CSV: most confident, highest loss, or most likely "
                        "label issue first (confident learning), as the dashboard's gallery sorts")
    p.add_argument("--show", choices=list(SHOW_CHOICES), default="all",
                   help="which errors of the view: all (default), label-issues or model-errors (confident "
                        "learning's verdict), as the dashboard's gallery filters")
    A.add_dpi(p)
    lo, hi = A.INCHES_RANGE
    p.add_argument("--inches", nargs=2, type=A.inches, metavar=("W", "H"), dest="inches",
                   help=f"figure size in inches, {lo:g}-{hi:g} a side (formerly --size, still accepted "
                        "but deprecated)")
    A.deprecated_alias(p, "--size", "--inches", dest="inches", nargs=2, type=A.inches, metavar=("W", "H"))
    p.add_argument("--cols", type=A.int_range(1, 50), default=10, help="faces per row in a cell sheet, 1-50")
    p.add_argument("--cmap", default=A.DEFAULT_CMAP, help=f"overlay colormap ({', '.join(A.CMAPS)})")
    p.add_argument("--alpha", type=A.opacity, default=0.5, help="overlay opacity 0-1 (default 0.5)")
    A.add_views(p, "maps over the card's test-time views, like the prediction (default), or one view")
    p.add_argument("--no-cache", action="store_true", help="recompute predictions")
    A.add_out(p)


def _check(a) -> None:
    """Reject bad combinations before any data or model is loaded (values are checked by the parser)."""
    from ..export import ExportError
    from ..export._common import check_style

    what = next(k for k in _WHAT if getattr(a, k) not in (None, False))
    if a.normalize and what != "confusion_matrix":
        raise ExportError("--normalize applies to --confusion-matrix only")
    if a.method and what not in ("ids", "cell"):
        raise ExportError("--method applies to --ids and --cell only")
    if a.compare and what != "ids":
        raise ExportError("--compare works with --ids (one comparison figure per image)")
    if (a.sort != "confidence" or a.show != "all") and what not in ("cell", "errors_csv"):
        raise ExportError("--sort and --show apply to --cell and --errors-csv only")
    if a.method:
        _attribution()
    check_style(a.cmap, a.alpha)
    a.what = what
    a.view_sort, a.view_show = SORT_CHOICES[a.sort], SHOW_CHOICES[a.show]


def _errors_filter(value) -> tuple[int | None, int | None]:
    """--errors-csv's optional TRUE:PRED (parsed), either side may be 'any' (None)."""
    return (None, None) if value is True else value


def _targets(a, labels: np.ndarray, preds: np.ndarray) -> np.ndarray:
    from ..export import ExportError
    from ..labels import class_index

    if a.target == "pred":
        return preds
    if a.target == "true":
        return labels
    try:
        return np.full(len(labels), class_index(a.target))
    except ValueError as e:
        raise ExportError(f"--target: {e}") from None


def check_classes(a, card, card2=None) -> None:
    """Refuse, before any data is read, a predicted class (--cell, --errors-csv, --target) that a
    model cannot output (a true class the dataset lacks just has no faces)."""
    from ..labels import NAMES, class_index
    from .common import model_class

    cell = a.cell if a.what == "cell" else (_errors_filter(a.errors_csv) if a.what == "errors_csv" else None)
    for c in [card] + ([card2] if card2 is not None else []):
        if cell is not None and cell[1] is not None:
            t = "any" if cell[0] is None else NAMES[cell[0]]
            model_class(c, cell[1], f"--{a.what.replace('_', '-')} {t}:{NAMES[cell[1]]}")
        if a.method and a.target not in ("pred", "true"):
            model_class(c, class_index(a.target), "--target")


def _view(a, data, ev, t, p, *, badges: bool):
    """The annotated rows of the view (`ferviz.analysis.error_views`), with the same quality columns as the
    dashboard: label issues always; Training copies and FER+ votes when `badges` (the CSV)."""
    from ..analysis import error_views as views
    from ..analysis.label_issues import evaluation_issues
    from .common import progress

    issues = evaluation_issues(ev)
    copies = aligned = None
    if badges:
        from ..data.duplicates import find_duplicates, training_duplicates
        from ..data.splits import DataError, align_votes
        from .common import load_splits

        with progress("looking for copies of Training images") as update:
            copies = training_duplicates(find_duplicates(load_splits(a), progress=update), data.split)
        try:
            aligned = align_votes(data)
        except DataError:
            aligned = None
    return views.error_view(ev, t, p, sort=a.view_sort, show=a.view_show, issues=issues, copies=copies,
                            aligned=aligned)


def _target_text(target: str) -> str:
    return {"pred": "predicted class", "true": "true class"}.get(target, f"class {target}")


def _attribution():
    from ..export import ExportError

    try:
        from .. import attribution
    except ImportError as e:
        raise ExportError(f"attribution unavailable: ferviz.attribution cannot be imported ({e})") from None
    if not hasattr(attribution, "cached_explain"):
        raise ExportError("attribution unavailable: ferviz.attribution has no cached_explain()")
    return attribution


def method_label(method: str) -> str:
    """'Grad-CAM' for 'gradcam' (the attribution package's display name when it has one)."""
    try:
        from ..attribution import METHODS
    except ImportError:
        METHODS = {}
    return METHODS.get(method) or METHOD_LABELS.get(method, method)


def attribution_maps(model, card, data, pos: np.ndarray, targets: np.ndarray, method: str,
                     views: str = "tta") -> np.ndarray:
    """(N, H, W) maps in [0, 1] for data[pos], from the attribution disk cache or computed; `views`
    "tta" follows the card's test-time views (the shown prediction), "single" one forward pass."""
    from .common import progress

    attribution = _attribution()
    with progress(f"{method} for {len(pos)} images") as update:
        maps = attribution.cached_explain(model, card, data.images[pos], data.ids[pos], data.data_hash,
                                          targets, method, views=views, progress=update)
    return np.asarray(maps, np.float32)


def _jobs(a, card, data, ev, model=None, other=None):
    """[(file names, render() -> their bytes)]: one unit per figure (all formats) or table."""
    from .. import export as ex
    from ..labels import NAMES

    key, split = card.key, data.split
    style = {"cmap": a.cmap, "alpha": a.alpha, "dpi": a.dpi, "size_in": a.inches}
    jobs = []

    # parts that keep exports made with other options from overwriting each other
    target_part = ([] if a.target == "pred" else [f"target-{a.target}"]) + \
        ([] if getattr(a, "views", "tta") == "tta" else ["single-view"])
    views_ = getattr(a, "views", "tta")
    vlabel = "" if views_ == "tta" else " [single view]"
    if a.what == "ids":
        ids = list(dict.fromkeys(a.ids))
        pos = []
        for i in ids:
            try:
                pos.append(data.index_of(i))
            except KeyError:
                raise ex.ExportError(f"no image with id {i!r} in {split}") from None
        pos = np.array(pos)
        targets = _targets(a, data.labels[pos], ev.preds[pos])
        maps = {m: attribution_maps(model, card, data, pos, targets, m, views_) for m in a.method}
        if other is not None:
            card2, ev2, model2 = other
            targets2 = _targets(a, data.labels[pos], ev2.preds[pos])
            maps2 = {m: attribution_maps(model2, card2, data, pos, targets2, m, views_) for m in a.method}
        for k, (i, p) in enumerate(zip(ids, pos)):
            ovl = {f"{method_label(m)} ({NAMES[targets[k]]}){vlabel}": maps[m][k] for m in a.method}
            if other is None:
                def build(p=p, i=i, ovl=ovl):
                    return ex.annotated_figure(data.images[p], ev.probs[p], overlays=ovl, true=int(data.labels[p]),
                                               model_name=card.name, image_id=i, split=split,
                                               classes=ev.columns, **style)
                jobs.append((dict(kind="image", image_id=i, method=a.method or None, extra=target_part), build))
            else:
                ovl2 = {f"{method_label(m)} ({NAMES[targets2[k]]}){vlabel}": maps2[m][k] for m in a.method}

                def build(p=p, i=i, ovl=ovl, ovl2=ovl2):
                    return ex.comparison_figure(data.images[p], (card.name, ev.probs[p], ovl, ev.columns),
                                                (card2.name, ev2.probs[p], ovl2, ev2.columns),
                                                true=int(data.labels[p]),
                                                image_id=i, split=split, **style)
                jobs.append((dict(kind="comparison", image_id=i, method=a.method or None,
                                  extra=[f"vs-{card2.key}", *target_part]), build))

    elif a.what == "cell":
        from ..analysis import error_views as views

        t, p = a.cell
        df = _view(a, data, ev, t, p, badges=False)
        if df.empty:
            raise ex.ExportError(f"no images in cell true {NAMES[t]} -> predicted {NAMES[p]} on {split}"
                                 + ("" if a.show == "all" else f" ({a.view_show}s)"))
        limit = a.limit or views.SHEET_LIMIT
        pos = df["pos"].to_numpy()[:limit]
        targets = _targets(a, data.labels[pos], ev.preds[pos])
        view_part = views.name_parts(a.view_sort, a.view_show)
        for m in a.method or [None]:
            maps = attribution_maps(model, card, data, pos, targets, m, views_) if m else None

            def build(m=m, maps=maps):
                method = f"{method_label(m)} for the {_target_text(a.target)}{vlabel}" if m else None
                return views.view_sheet(data.images, ev.probs, df, t, p, model_name=card.name, split=split,
                                        sort=a.view_sort, show=a.view_show, limit=limit, overlays=maps,
                                        method=method, cols=a.cols, **style)
            jobs.append((dict(kind="sheet", cell=(t, p), method=m,
                              extra=[*(target_part if m else []), *view_part]), build))

    elif a.what == "confusion_matrix":
        def build():
            m = ev.matrix()
            return ex.confusion_figure(m.to_numpy(), normalize=a.normalize, accuracy=ev.accuracy,
                                       model_name=card.name, split=split, classes=list(m.index),
                                       columns=list(m.columns), note=ev.outside_note(), dpi=a.dpi,
                                       size_in=a.inches)
        jobs.append((dict(kind="confusion_normalized" if a.normalize else "confusion"), build))

    else:
        kind = a.what[:-len("_csv")]
        t, p = _errors_filter(a.errors_csv) if kind == "errors" else (None, None)
        from ..analysis import error_views as views

        table = {"errors": lambda: views.errors_table_csv(_view(a, data, ev, t, p, badges=True), t, p, a.limit),
                 "per_class": lambda: ex.per_class_csv(ev),
                 "predictions": lambda: ex.predictions_csv(ev)}[kind]
        cell = (t, p) if (t, p) != (None, None) else None
        parts = views.name_parts(a.view_sort, a.view_show) if kind == "errors" else []
        return [([ex.export_filename(kind, key, split, cell=cell, extra=parts, fmt="csv")], lambda: [table()])]

    formats = sorted(dict.fromkeys(a.formats), key=ex.FORMATS.index)  # png first: checks pixel size
    units = []
    for spec, build in jobs:
        names = [ex.export_filename(fmt=f, model_key=key, split=split, **spec) for f in formats]

        def render(build=build):
            fig = build()
            return [ex.figure_bytes(fig, f, dpi=a.dpi) for f in formats]
        units.append((names, render))
    return units


def run(a) -> int:
    from ..analysis.evaluation import evaluate
    from ..cache import atomic_write_bytes
    from ..models import find_card, load_model
    from .common import evaluated, load_split, progress

    _check(a)
    card = find_card(a.model)
    card2 = find_card(a.compare) if a.compare else None
    check_classes(a, card, card2)
    data = load_split(a)
    model = load_model(card) if a.method else None  # only overlays need the model itself
    ev = evaluated(card, data, model=model, use_cache=not a.no_cache)
    other = None
    if a.compare:
        model2 = load_model(card2) if a.method else None
        other = (card2, evaluate(card2, data, model=model2, use_cache=not a.no_cache), model2)
    units = _jobs(a, card, data, ev, model, other)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    n_files = sum(len(names) for names, _ in units)
    done = 0
    with progress(f"exporting {n_files} files", enabled=n_files > 1) as update:
        for names, render in units:
            for name, data_bytes in zip(names, render()):
                path = out / name
                atomic_write_bytes(path, data_bytes)
                print(path, flush=True)
                done += 1
                update(done / n_files, name)
    return 0
