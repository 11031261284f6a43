"""``python -m ferviz embed``: the embedding map of a split (penultimate-layer features projected
to 2-D by UMAP or PCA) as ``embedding.csv`` and a scatter figure coloured by class."""
from __future__ import annotations

from pathlib import Path

from .cli import command, model_data_args, progress_bar


# literal copies of ferviz.embedding.METHODS/VIEWS, export.embedding.COLOR_BY and export.FORMATS, so
# that building the parser imports neither pandas nor matplotlib (tests check they agree)
METHODS, VIEWS, FORMATS = ("umap", "pca"), ("tta", "single"), ("png", "svg", "pdf")
COLOR_BY = ("true", "pred", "correct", "confidence", "issue")


def _embed_args(p):
    model_data_args(p)
    p.add_argument("--method", default="umap", choices=METHODS, help="umap (default) or pca (fast, linear)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the projection (default 0)")
    p.add_argument("--views", choices=VIEWS, default="tta",
                   help="tta: features averaged over the card's test-time views, as the shown prediction "
                        "(default); single: the face alone")
    p.add_argument("--color-by", default="true", choices=COLOR_BY,
                   help="what colours the points (default true); issue: confident learning's verdict per error "
                        "(likely label issue / likely model error), also written as a column")
    p.add_argument("--format", nargs="+", default=["png"], choices=FORMATS, metavar="{png,svg,pdf}",
                   help="figure format(s) (default png)")
    p.add_argument("--dpi", type=float, default=150)
    p.add_argument("--no-cache", action="store_true", help="recompute features and coordinates")
    p.add_argument("--out", required=True, help="folder for embedding.csv and embedding.<format>")


def issue_column(card, split):
    """Per face: "correct", "likely label issue" or "likely model error" (confident learning)."""
    import numpy as np

    from .evaluation import evaluate
    from .label_issues import evaluation_issues

    ev = evaluate(card, split)
    li = evaluation_issues(ev)
    return np.where(ev.preds == ev.labels, "correct",
                    np.where(li.flagged, "likely label issue", "likely model error"))


@command("embed", "embedding map: each face of a split placed by its penultimate-layer features (UMAP/PCA)")(_embed_args)
def _embed(a) -> int:
    import time

    from .data import load_fer2013
    from .embedding import cached_embedding
    from .export.embedding import embedding_figure
    from .export.render import check_dpi, figure_bytes
    from .models import find_card

    check_dpi(a.dpi)
    card = find_card(a.model)
    split = load_fer2013(a.data, a.split)
    bar, update = progress_bar(desc=f"embed {card.key}")
    t = time.perf_counter()
    try:
        df = cached_embedding(None, card, split, a.method, a.seed, views=a.views, use_cache=not a.no_cache,
                              progress=update)
    finally:
        bar.close()
    seconds = time.perf_counter() - t
    if a.color_by == "issue":
        df["issue"] = issue_column(card, split)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    df.to_csv(out / "embedding.csv", index=False, float_format="%.6f")
    fig = embedding_figure(df, a.color_by, model_name=card.name, split=split.split, method=a.method, dpi=a.dpi)
    written = [out / "embedding.csv"]
    for fmt in dict.fromkeys(a.format):
        (out / f"embedding.{fmt}").write_bytes(figure_bytes(fig, fmt))
        written.append(out / f"embedding.{fmt}")
    src = "from the cache" if df.attrs.get("from_cache") else f"computed in {seconds:.1f} s"
    print(f"{card.name} on {split.split}: {len(df)} faces, {a.method.upper()} (seed {a.seed}, views: {a.views}), "
          f"{src}; accuracy {df['correct'].mean():.4f}")
    print("wrote " + ", ".join(map(str, written)))
    return 0
