"""Plotly figures for the dashboard (built from core results; no computation here).

Every chart goes through :func:`frame`, which keeps the top :data:`TOOLBAR_PX` pixels free for
plotly's toolbar (the modebar, shown at the top right on hover) and sets the title below that
strip, so the toolbar never covers a title or the top bar of a chart. Colours come from
:mod:`ferviz.figures.palette` (one palette per meaning, shared with the exported figures).
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from ..figures import palette
from ..figures.display import ConfusionDisplay, ProbsDisplay
from ..labels import EMOTIONS, NAMES, NUM_CLASSES

#: what a class the model cannot output says beside its row of the confusion matrix
NOT_A_MODEL_CLASS = "not a model class"
#: the strip at the top of every chart kept free for plotly's toolbar (26 px high, 2 px down, and a gap)
TOOLBAR_PX = 40
#: the height of one line of a chart title
TITLE_LINE_PX = 24
#: the size of the numbers written in matrix cells (at least 11 px on screen)
CELL_FONT_PX = 14


def _axis(names) -> dict:
    """A matrix axis with one tick per class name, level."""
    names = list(names)
    return dict(tickmode="array", tickvals=list(range(len(names))), ticktext=names, tickangle=0,
                automargin=True)


def _ids(ids, n: int) -> list[int]:
    """Class ids of a matrix side: as given, else the first `n` of the vocabulary."""
    return [int(c) for c in ids] if ids is not None else list(range(n))


def row_label(cls: int, columns) -> str:
    """A confusion-matrix row's label: the class name, marked when the model cannot output it."""
    return NAMES[cls] + ("" if cls in set(columns) else f" ({NOT_A_MODEL_CLASS})")


def frame(fig: go.Figure, *, title: str = "", height: int, l: int = 10, r: int = 10, b: int = 10,
          extra_top: int = 0) -> go.Figure:
    """Lay out `fig` `height` pixels high with the toolbar strip free at the top: the title (if
    any) sits just below it, left-aligned, and the plot below the title. `extra_top` reserves
    more room above the plot (e.g. for subplot titles or a column header)."""
    lines = title.count("<br>") + 1 if title else 0
    top = TOOLBAR_PX + lines * TITLE_LINE_PX + (6 if title else 0) + extra_top
    fig.update_layout(
        height=height, margin=dict(l=l, r=r, t=top, b=b),
        title=dict(text=title, x=0, xref="paper", xanchor="left", yref="container",
                   y=1 - TOOLBAR_PX / height, yanchor="top", pad=dict(t=0, b=0)) if title else dict(text=""))
    return fig


def confusion_heatmap(cm: np.ndarray | None, counts: np.ndarray, *, normalized: bool, title: str = "",
                      issues: np.ndarray | None = None, rows=None, columns=None) -> go.Figure:
    """Confusion matrix heatmap, rows true, columns predicted, clickable per cell. `counts` is the
    matrix as shown, rows the class ids `rows` (the dataset's classes), columns `columns` (the
    model's; both default to FER2013's seven): a rectangle when they differ, and a row of a class
    the model cannot output is marked "(not a model class)" (its faces are counted apart). `cm`
    is accepted for compatibility; the shown values come from `counts`, through the same
    :class:`ferviz.figures.display.ConfusionDisplay` the export draws (values, cell texts, colour
    scale). `issues` (likely label issues per shown cell) adds them to the hover. Beside each
    row: the class's recall and its number of images (support).

    Streamlit returns no selection for heatmap clicks, so a nearly invisible square marker sits
    on every cell centre (trace 1): a click selects it and returns {"x": column position,
    "y": row position}; `rows[y]`, `columns[x]` are the cell's classes.
    """
    counts = np.asarray(counts)
    rows, columns = _ids(rows, counts.shape[0]), _ids(columns, counts.shape[1])
    d = ConfusionDisplay(counts, normalize=normalized, classes=tuple(NAMES[c] for c in rows),
                         columns=tuple(NAMES[c] for c in columns))
    nr, nc = len(rows), len(columns)
    diagonal = set(d.diagonal)
    text = [[f"<b>{v}</b>" if (i, j) in diagonal else v for j, v in enumerate(row)] for i, row in enumerate(d.texts)]
    fig = go.Figure(go.Heatmap(z=d.values.tolist(), x=list(range(nc)), y=list(range(nr)), text=text,
                               texttemplate="%{text}",
                               textfont=dict(size=CELL_FONT_PX), colorscale=d.cmap, zmin=0, zmax=d.vmax,
                               hoverinfo="skip", showscale=False))
    xs, ys = np.meshgrid(range(nc), range(nr))
    hover = np.array([[d.hover(i, j) for j in range(nc)] for i in range(nr)])
    fig.add_trace(go.Scatter(
        x=xs.ravel(), y=ys.ravel(), mode="markers", showlegend=False,
        marker=dict(symbol="square", size=46, color="rgba(255,255,255,0.01)"),
        customdata=np.stack([hover.ravel(),
                             (issues if issues is not None else np.zeros((nr, nc), int)).ravel().astype(str)], axis=1),
        hovertemplate="%{customdata[0]}"
                      + ("<br>%{customdata[1]} likely label issues" if issues is not None else "")
                      + "<br>click to open<extra></extra>"))
    support = d.counts.sum(axis=1)
    right = np.array([d.counts[i, columns.index(r)] if r in columns else 0.0 for i, r in enumerate(rows)])
    recall = np.divide(right, support, out=np.zeros(nr), where=support > 0)
    notes = [("recall", 8, "left"), ("n", 96, "right")]
    for label, shift, anchor in notes:  # the column headers, above the first row
        fig.add_annotation(x=1, xref="paper", y=-0.5, yref="y", yanchor="bottom", xanchor=anchor, xshift=shift,
                           text=label, showarrow=False, font=dict(size=12, color="#666"))
    for i in range(nr):
        n = f"{int(support[i]):,}" if d.integral else f"{support[i]:.2f}"
        rec = "apart" if rows[i] not in columns else f"{recall[i]:.0%}" if support[i] else "—"
        for value, (_, shift, anchor) in zip((rec, n), notes):
            fig.add_annotation(x=1, xref="paper", y=i, yref="y", xanchor=anchor, xshift=shift, text=value,
                               showarrow=False, font=dict(size=13))
    frame(fig, title=title, height=560 + 40 * max(0, nr - NUM_CLASSES), l=10, r=112, b=10, extra_top=18)
    fig.update_layout(xaxis=dict(title="predicted", **_axis(NAMES[c] for c in columns), side="bottom",
                                 range=[-0.5, nc - 0.5]),
                      yaxis=dict(title="true", range=[nr - 0.5, -0.5],  # fixed: the click markers add no margin
                                 **_axis([row_label(r, columns) for r in rows])),
                      clickmode="event+select", dragmode=False)
    return fig


def diff_heatmap(diff: np.ndarray, *, first: str, second: str, title: str = "", rows=None,
                 columns=None) -> go.Figure:
    """Difference of two confusion matrices, `first` minus `second` (counts), each cell written
    with its sign; rows the class ids `rows`, columns `columns` (default FER2013's seven; two
    models with other class sets: the dataset's classes and every class either can output). The
    colour says whom the difference favours, on and off the diagonal alike:
    blue is better for the first model (more images right on the diagonal, fewer of that mistake
    off it), red worse for it (:data:`ferviz.figures.palette.DIFF_SCALE`). The heatmap's z is
    that signed gain for the first model (the diagonal's difference, the negated mistakes)."""
    diff = np.asarray(diff)
    rows, columns = _ids(rows, diff.shape[0]), _ids(columns, diff.shape[1])
    nr, nc = len(rows), len(columns)
    on = np.array([[r == c for c in columns] for r in rows], dtype=bool).reshape(nr, nc)
    gain = np.where(on, diff, -diff)
    lim = max(1, int(np.abs(diff).max(initial=0)))
    row_names = np.array([NAMES[c] for c in rows], dtype=object)
    col_names = np.array([NAMES[c] for c in columns], dtype=object)
    xs, ys = np.meshgrid(range(nc), range(nr))

    def says(i: int, j: int) -> str:
        v = int(diff[i, j])
        if v == 0:
            return "no difference"
        more = "more" if v > 0 else "fewer"
        if on[i, j]:
            return f"{first} gets {abs(v)} {more} right than {second}: {'better' if v > 0 else 'worse'} for {first}"
        return (f"{first} makes this mistake {abs(v)} {more} {'time' if abs(v) == 1 else 'times'} than {second}: "
                f"{'worse' if v > 0 else 'better'} for {first}")

    hover = np.array([[says(i, j) for j in range(nc)] for i in range(nr)], dtype=object).reshape(nr, nc)
    fig = go.Figure(go.Heatmap(
        z=gain, x=list(range(nc)), y=list(range(nr)),
        text=[[f"{int(v):+d}" if v else "0" for v in row] for row in diff], texttemplate="%{text}",
        textfont=dict(size=CELL_FONT_PX), colorscale=palette.DIFF_SCALE, zmid=0, zmin=-lim, zmax=lim,
        customdata=np.stack([row_names[ys], col_names[xs], hover], axis=-1),
        hovertemplate="true %{customdata[0]} → predicted %{customdata[1]}: %{text}<br>%{customdata[2]}"
                      "<extra></extra>",
        colorbar=dict(title=dict(text=f"for {first}", side="right"), tickvals=[-lim, 0, lim],
                      ticktext=["worse", "same", "better"])))
    for i, j in zip(*np.nonzero(on)):  # the diagonal (more right) outlined apart from the mistakes around it
        fig.add_shape(type="rect", x0=j - 0.5, x1=j + 0.5, y0=i - 0.5, y1=i + 0.5, line=dict(color="#555", width=1.5))
    frame(fig, title=title, height=520 + 40 * max(0, nr - NUM_CLASSES), l=10, r=10, b=10)
    fig.update_layout(xaxis=dict(title="predicted", **_axis(col_names)),
                      yaxis=dict(title="true", autorange="reversed", **_axis(row_names)))
    return fig


def probs_bar(probs: np.ndarray, *, true: int | None = None, title: str = "", classes=None) -> go.Figure:
    """The class probabilities as horizontal bars, highest first, one per class the model can
    output (`classes`: class ids; default every column of `probs`, a row indexed by class id of
    :data:`ferviz.labels.NAMES`): the plotly rendering of the
    :class:`ferviz.figures.display.ProbsDisplay` the exported figures draw (same order, colours,
    labels). A true class the model cannot output has no bar: the caller says so."""
    d = ProbsDisplay(probs, true, classes=None if classes is None else tuple(int(c) for c in classes))
    fig = go.Figure(go.Bar(x=d.values, y=d.labels, orientation="h", marker_color=d.colors,
                           text=d.texts, textposition="auto"))
    frame(fig, title=title, height=260 + 26 * max(0, len(d.order) - NUM_CLASSES) + (TITLE_LINE_PX if title else 0))
    fig.update_layout(xaxis=dict(range=[0, 1], tickformat=".0%"), yaxis=dict(autorange="reversed"))
    return fig


def class_distribution(labels: np.ndarray, title: str = "Class distribution", classes=None) -> go.Figure:
    """Images per class of `classes` (class ids; default FER2013's seven and any label beyond),
    each bar in its class's colour (the embedding map's)."""
    labels = np.asarray(labels, dtype=int)
    top = int(labels.max(initial=NUM_CLASSES - 1)) + 1
    ids = _ids(classes, max(NUM_CLASSES, top))
    counts = np.bincount(labels, minlength=max(ids, default=0) + 1)[ids]
    names = [NAMES[c] for c in ids]
    fig = go.Figure(go.Bar(x=names, y=counts, text=counts, textposition="auto",
                           marker_color=[palette.CLASS_COLORS[e] for e in names],
                           hovertemplate="%{x}: %{y} images<extra></extra>"))
    frame(fig, title=title, height=320)
    fig.update_layout(xaxis=dict(tickangle=0))
    return fig


def plain_confusion(cm: np.ndarray, *, rows_title: str, title: str = "", height: int = 420, rows=None,
                    columns=None) -> go.Figure:
    """A count matrix (rows `rows_title`, columns the model's prediction), not clickable; `rows`
    and `columns` are its classes' names (default the vocabulary's first, as many as it has)."""
    cm = np.asarray(cm)
    row_names = np.array(list(rows) if rows is not None else NAMES[:cm.shape[0]], dtype=object)
    col_names = np.array(list(columns) if columns is not None else NAMES[:cm.shape[1]], dtype=object)
    xs, ys = np.meshgrid(range(cm.shape[1]), range(cm.shape[0]))
    fig = go.Figure(go.Heatmap(
        z=cm, x=list(range(cm.shape[1])), y=list(range(cm.shape[0])), text=cm, texttemplate="%{text}",
        colorscale=palette.CONFUSION_CMAP, textfont=dict(size=CELL_FONT_PX), colorbar=dict(title="images"),
        customdata=np.stack([row_names[ys], col_names[xs]], axis=-1),
        hovertemplate=f"{rows_title} %{{customdata[0]}} → predicted %{{customdata[1]}}: %{{z}} images<extra></extra>"))
    frame(fig, title=title, height=height)
    fig.update_layout(xaxis=dict(title="predicted", **_axis(col_names)),
                      yaxis=dict(title=rows_title, autorange="reversed", **_axis(row_names)))
    return fig


def votes_bar(votes: np.ndarray, *, title: str = "FER+ votes") -> go.Figure:
    """FER+'s 10 votes for one image: 7 emotions, contempt, unknown, not a face."""
    from ..data.ferplus import VOTE_CLASSES

    v = np.asarray(votes)
    names = [("not a face" if c == "NF" else c) for c in VOTE_CLASSES]
    top = v.max() if v.size else 0
    colors = [palette.VOTE_TOP if x == top and x > 0 else (palette.VOTE_EMOTION if i < 7 else palette.VOTE_OTHER)
              for i, x in enumerate(v)]
    fig = go.Figure(go.Bar(x=v, y=names, orientation="h", marker_color=colors, text=[str(int(x)) for x in v],
                           textposition="auto",
                           hovertemplate="%{y}: %{x} of " + str(int(v.sum())) + " votes<extra></extra>"))
    frame(fig, title=title, height=300 + (TITLE_LINE_PX if title else 0))
    fig.update_layout(xaxis=dict(range=[0, max(10, int(v.sum()))], dtick=2), yaxis=dict(autorange="reversed"))
    return fig


def reliability_chart(panels: dict, *, ncols: int | None = None, height_per_row: int = 380) -> go.Figure:
    """Reliability diagrams (label -> `calibration.Reliability`), side by side: per confidence bin
    the accuracy (bars), the mean confidence (black ticks, joined to the bar by a red gap line)
    and the diagonal of perfect calibration; under each, how many images the bins hold."""
    from plotly.subplots import make_subplots

    items = list(panels.items())
    cols = min(ncols or len(items), len(items))
    nrows = -(-len(items) // cols)
    # per row of panels: the diagram, its histogram and (between rows) a spacer for the titles
    heights, titles = [], []
    for r in range(nrows):
        row_items = items[r * cols:(r + 1) * cols]
        heights += [0.72, 0.18] + ([0.2] if r < nrows - 1 else [])
        titles += [f"{label}<br>ECE = {100 * rel.ece:.2f}%" for label, rel in row_items]
        titles += [""] * (cols - len(row_items)) + [""] * cols * (2 if r < nrows - 1 else 1)
    total = sum(heights)
    fig = make_subplots(rows=len(heights), cols=cols, row_heights=[h / total for h in heights],
                        vertical_spacing=0.03 / nrows, horizontal_spacing=0.06, subplot_titles=titles)
    for i, (label, rel) in enumerate(items):
        r, c = divmod(i, cols)
        top, bottom = 3 * r + 1, 3 * r + 2
        lo, hi = np.asarray(rel.bin_lo, float), np.asarray(rel.bin_hi, float)
        count = np.asarray(rel.count)
        acc, conf = np.asarray(rel.accuracy, float), np.asarray(rel.confidence, float)
        filled = count > 0
        mid, width = (lo + hi) / 2, hi - lo
        first = i == 0
        hover = [f"({a:.2f}, {b:.2f}]: {n} images<br>accuracy {x:.1%}<br>mean confidence {y:.1%}"
                 for a, b, n, x, y in zip(lo[filled], hi[filled], count[filled], acc[filled], conf[filled])]
        fig.add_trace(go.Bar(x=mid[filled], y=acc[filled], width=width[filled], marker_color=palette.ACCURACY_COLOR,
                             name="accuracy", legendgroup="acc", showlegend=first, hovertext=hover,
                             hoverinfo="text"), row=top, col=c + 1)
        fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(dash="dash", color="#888", width=1),
                                 name="perfect calibration", legendgroup="diag", showlegend=first,
                                 hoverinfo="skip"), row=top, col=c + 1)
        gx, gy = [], []
        for x, a, b in zip(mid[filled], acc[filled], conf[filled]):
            gx += [x, x, None]
            gy += [a, b, None]
        fig.add_trace(go.Scatter(x=gx, y=gy, mode="lines", line=dict(color=palette.GAP_COLOR, width=2), name="gap",
                                 legendgroup="gap", showlegend=first, hoverinfo="skip"), row=top, col=c + 1)
        fig.add_trace(go.Scatter(x=mid[filled], y=conf[filled], mode="markers", name="mean confidence",
                                 marker=dict(symbol="line-ew-open", size=14, color="black", line=dict(width=2)),
                                 legendgroup="conf", showlegend=first, hoverinfo="skip"), row=top, col=c + 1)
        fig.add_trace(go.Bar(x=mid, y=count, width=width, marker_color="#aaaaaa", name="images per bin",
                             legendgroup="n", showlegend=first,
                             hovertemplate="%{y} images<extra></extra>"), row=bottom, col=c + 1)
        fig.update_yaxes(range=[0, 1], tickformat=".0%", row=top, col=c + 1, title_text="accuracy" if c == 0 else None)
        fig.update_yaxes(row=bottom, col=c + 1, title_text="images" if c == 0 else None)
        fig.update_xaxes(range=[0, 1], showticklabels=False, row=top, col=c + 1)
        x_title = "confidence" if getattr(rel, "cls", None) is None else "predicted probability"
        fig.update_xaxes(range=[0, 1], tickformat=".0%", row=bottom, col=c + 1,
                         title_text=x_title if r == nrows - 1 else None)  # the last row's titles say it
    for r in range(nrows - 1):  # the spacer rows hold nothing
        for c in range(cols):
            fig.update_xaxes(visible=False, row=3 * r + 3, col=c + 1)
            fig.update_yaxes(visible=False, row=3 * r + 3, col=c + 1)
    frame(fig, height=height_per_row * nrows + 110, b=70, extra_top=44)  # subplot titles: two lines
    fig.update_layout(bargap=0,
                      legend=dict(orientation="h", x=0, xanchor="left", y=0, yanchor="bottom", yref="container"),
                      hovermode="closest")
    return fig


def region_bars(table, tests=None, *, title: str = "", height: int = 380) -> go.Figure:
    """Mean share per facial region for each group (cell first, then references) with 95%
    intervals; a star marks a region where the cell differs from a reference. Same colours and
    order as the exported chart (`ferviz.export.regions`)."""
    from ..attribution.regions import REGIONS
    from ..export.regions import GROUP_COLORS, STAR, differs_map

    star = differs_map(tests)
    labels = [f"{r} {STAR}" if r in star else r for r in REGIONS]
    fig = go.Figure()
    for g, (_, row) in enumerate(table.iterrows()):
        mean = np.array([row[r] for r in REGIONS], float)
        lo = np.array([row[f"{r}_lo"] for r in REGIONS], float)
        hi = np.array([row[f"{r}_hi"] for r in REGIONS], float)
        fig.add_trace(go.Bar(
            y=labels, x=mean, orientation="h", name=f"{row['group']} (n={int(row['n'])})",
            marker_color=GROUP_COLORS[g % len(GROUP_COLORS)],
            error_x=dict(type="data", symmetric=False, array=np.clip(hi - mean, 0, None),
                         arrayminus=np.clip(mean - lo, 0, None), thickness=1, width=3),
            customdata=np.stack([lo, hi], axis=1),
            hovertemplate="%{y}: %{x:.1%} (95% interval %{customdata[0]:.1%}–%{customdata[1]:.1%})"
                          "<extra>%{fullData.name}</extra>"))
    frame(fig, title=title, height=height)
    fig.update_layout(barmode="group", xaxis=dict(title="share of the positive attribution", tickformat=".0%"),
                      yaxis=dict(autorange="reversed"), legend=dict(orientation="h", y=-0.2))
    return fig


def region_shares_bar(shares: dict[str, np.ndarray], *, title: str = "", height: int = 300) -> go.Figure:
    """One image's share per facial region, one bar group per method (label -> (R,) shares)."""
    from ..attribution.regions import REGIONS
    from ..export.regions import GROUP_COLORS

    fig = go.Figure()
    for k, (label, s) in enumerate(shares.items()):
        fig.add_trace(go.Bar(y=list(REGIONS), x=np.asarray(s, float), orientation="h", name=label,
                             marker_color=GROUP_COLORS[(k + 1) % len(GROUP_COLORS)],
                             hovertemplate="%{y}: %{x:.1%}<extra>" + label + "</extra>"))
    frame(fig, title=title, height=height)
    fig.update_layout(barmode="group", xaxis=dict(title="share of the positive attribution", tickformat=".0%"),
                      yaxis=dict(autorange="reversed"), legend=dict(orientation="h", y=-0.25))
    return fig


def embedding_groups(df, color_by: str = "true", classes=None) -> list[tuple[str, np.ndarray, object]]:
    """The embedding map's traces in order: (legend name, row mask, colour) per colour group (one
    group for "confidence", coloured by the value). A selection's ``curve_number`` is an index here.
    By class: one group per name of `classes` (default FER2013's seven and any other class in the
    table, in vocabulary order). By correct / wrong, a table with a "scored" column adds the faces
    counted apart (a true class the model cannot output) as their own group."""
    if color_by in ("true", "pred"):
        names = list(classes) if classes is not None else [
            c for c in NAMES if c in EMOTIONS or c in set(df["true"]) | set(df["pred"])]
        keys = [(e, df[color_by].to_numpy() == e, palette.CLASS_COLORS[e]) for e in names]
    elif color_by == "correct":
        ok = df["correct"].to_numpy().astype(bool)
        keys = [("correct", ok, palette.CORRECT), ("wrong", ~ok, palette.WRONG)]
        if "scored" in df.columns and not df["scored"].all():  # classes the model cannot output: neither
            apart = ~df["scored"].to_numpy().astype(bool)
            keys = [("correct", ok & ~apart, palette.CORRECT), ("wrong", ~ok & ~apart, palette.WRONG),
                    ("counted apart", apart, palette.OTHER_COLOR)]
    elif color_by == "issue":
        keys = [(v, df["issue"].to_numpy() == v, c) for v, c in palette.ISSUE_COLORS.items()]
    else:
        return [("faces", np.ones(len(df), bool), df["confidence"])]
    return [(f"{name} ({int(mask.sum())})", mask, color) for name, mask, color in keys]


def embedding_scatter(df, color_by: str = "true", *, title: str = "", height: int = 640,
                      classes=None) -> go.Figure:
    """The embedding map as a selectable WebGL scatter: one trace per colour group
    (:func:`embedding_groups`; the legend toggles them), the face's id, true and predicted class
    and confidence in `customdata` (what a box, lasso or click selection returns). Colours are
    the palette's, as in the exported map (:mod:`ferviz.export.embedding`)."""
    fig = go.Figure()
    for name, mask, color in embedding_groups(df, color_by, classes):
        sub = df[mask]
        marker = dict(color=color if isinstance(color, str) else sub["confidence"], size=5, opacity=0.75)
        if not isinstance(color, str):
            marker.update(colorscale=palette.CONFIDENCE_CMAP, cmin=0, cmax=1, colorbar=dict(title="confidence"))
        fig.add_trace(go.Scattergl(
            x=sub["x"], y=sub["y"], mode="markers", name=name, marker=marker,
            customdata=np.stack([sub["id"].astype(str), sub["true"], sub["pred"],
                                 sub["confidence"].map(lambda c: f"{c:.0%}")], axis=1),
            hovertemplate="%{customdata[0]}<br>true %{customdata[1]} → predicted %{customdata[2]} "
                          "(%{customdata[3]})<extra></extra>"))
    frame(fig, title=title, height=height)
    fig.update_layout(xaxis=dict(showticklabels=False, title=""), yaxis=dict(showticklabels=False, title="",
                                                                             scaleanchor="x"),
                      dragmode="select", legend=dict(itemsizing="constant"), clickmode="event+select")
    return fig
