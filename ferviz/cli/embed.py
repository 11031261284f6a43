"""``python -m ferviz embed``: the embedding map of a split (penultimate-layer features projected
to 2-D by UMAP or PCA, ``--projection``) as ``embedding.csv`` and a scatter figure coloured by class."""
from __future__ import annotations

from pathlib import Path

from . import args as A

# literal copies of ferviz.analysis.embedding.METHODS and export.embedding.COLOR_BY, so that building the
# parser imports neither pandas nor matplotlib (tests check they agree)
PROJECTIONS = ("umap", "pca")
COLOR_BY = ("true", "pred", "correct", "confidence", "issue")


def add_arguments(p) -> None:
    A.add_model_data(p)
    p.add_argument("--projection", default="umap", choices=PROJECTIONS, dest="projection",
                   help="umap (default) or pca (fast, linear); formerly --method, still accepted but deprecated")
    A.deprecated_alias(p, "--method", "--projection", dest="projection", choices=PROJECTIONS)
    A.add_seed(p, 0, "random seed of the projection")
    A.add_views(p, "tta: features averaged over the card's test-time views, as the shown prediction "
                   "(default); single: the face alone")
    p.add_argument("--color-by", default="true", choices=COLOR_BY,
                   help="what colours the points (default true); issue: confident learning's verdict per error "
                        "(likely label issue / likely model error), also written as a column")
    A.add_formats(p, "figure")
    A.add_dpi(p)
    p.add_argument("--no-cache", action="store_true", help="recompute features and coordinates")
    A.add_out(p, "folder for embedding.csv and embedding.<format>")


def issue_column(card, split):
    """Per face: "correct", "likely label issue" or "likely model error" (confident learning)."""
    import numpy as np

    from ..analysis.evaluation import evaluate
    from ..analysis.label_issues import evaluation_issues

    ev = evaluate(card, split)
    li = evaluation_issues(ev)
    return np.where(ev.preds == ev.labels, "correct",
                    np.where(li.flagged, "likely label issue", "likely model error"))


def run(a) -> int:
    import time

    from ..analysis.embedding import cached_embedding
    from ..export.embedding import embedding_figure
    from ..export.render import figure_bytes
    from ..models import find_card
    from .common import load_split, progress

    card = find_card(a.model)
    split = load_split(a)
    t = time.perf_counter()
    with progress(f"embed {card.key}") as update:
        df = cached_embedding(None, card, split, a.projection, a.seed, views=a.views, use_cache=not a.no_cache,
                              progress=update)
    seconds = time.perf_counter() - t
    if a.color_by == "issue":
        df["issue"] = issue_column(card, split)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    df.to_csv(out / "embedding.csv", index=False, float_format="%.6f")
    fig = embedding_figure(df, a.color_by, model_name=card.name, split=split.split, method=a.projection, dpi=a.dpi)
    written = [out / "embedding.csv"]
    for fmt in dict.fromkeys(a.formats):
        (out / f"embedding.{fmt}").write_bytes(figure_bytes(fig, fmt))
        written.append(out / f"embedding.{fmt}")
    src = "from the cache" if df.attrs.get("from_cache") else f"computed in {seconds:.1f} s"
    print(f"{card.name} on {split.split}: {len(df)} faces, {a.projection.upper()} (seed {a.seed}, views: {a.views}), "
          f"{src}; accuracy {df['correct'].mean():.4f}")
    print("wrote " + ", ".join(map(str, written)))
    return 0
