"""Plotly figures for the dashboard (built from core results; no computation here)."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from ..figures.display import CONFUSION_CMAP, ConfusionDisplay, ProbsDisplay
from ..labels import EMOTIONS

_AXIS = dict(tickmode="array", tickvals=list(range(7)), ticktext=list(EMOTIONS))


def confusion_heatmap(cm: np.ndarray, counts: np.ndarray, *, normalized: bool, title: str = "",
                      issues: np.ndarray | None = None) -> go.Figure:
    """Confusion matrix heatmap, rows true, columns predicted, clickable per cell; the plotly
    rendering of the same :class:`ferviz.figures.display.ConfusionDisplay` the export draws (values,
    cell texts, colour scale). `cm` is accepted for compatibility; the display derives the
    shown values from `counts`. `issues` (7x7 likely label issues per cell) adds them to the hover.

    Streamlit returns no selection for heatmap clicks, so a nearly invisible square marker sits
    on every cell centre: a click selects it and returns {"x": pred, "y": true}.
    """
    d = ConfusionDisplay(counts, normalize=normalized)
    text = [[f"<b>{v}</b>" if i == j else v for j, v in enumerate(row)] for i, row in enumerate(d.texts)]
    fig = go.Figure(go.Heatmap(z=d.values, x=list(range(7)), y=list(range(7)), text=text, texttemplate="%{text}",
                               colorscale=d.cmap, zmin=0, zmax=d.vmax, hoverinfo="skip",
                               colorbar=dict(title=d.colorbar_label)))
    xs, ys = np.meshgrid(range(7), range(7))
    hover = np.array([[d.hover(i, j) for j in range(7)] for i in range(7)])
    fig.add_trace(go.Scatter(
        x=xs.ravel(), y=ys.ravel(), mode="markers", showlegend=False,
        marker=dict(symbol="square", size=46, color="rgba(255,255,255,0.01)"),
        customdata=np.stack([hover.ravel(),
                             (issues if issues is not None else np.zeros((7, 7), int)).ravel().astype(str)], axis=1),
        hovertemplate="%{customdata[0]}"
                      + ("<br>%{customdata[1]} likely label issues" if issues is not None else "")
                      + "<br>click to open<extra></extra>"))
    fig.update_layout(title=title, height=560, margin=dict(l=10, r=10, t=40, b=10),
                      xaxis=dict(title="predicted", **_AXIS, side="bottom"),
                      yaxis=dict(title="true", autorange="reversed", **_AXIS),
                      clickmode="event+select", dragmode=False)
    return fig


def diff_heatmap(diff: np.ndarray, title: str) -> go.Figure:
    """Difference of two confusion matrices (A - B), diverging colours centred on 0."""
    lim = max(1, int(np.abs(diff).max()))
    fig = go.Figure(go.Heatmap(z=diff, x=list(range(7)), y=list(range(7)), text=diff, texttemplate="%{text:+d}",
                               colorscale="RdBu", zmid=0, zmin=-lim, zmax=lim))
    fig.update_layout(title=title, height=480, margin=dict(l=10, r=10, t=40, b=10),
                      xaxis=dict(title="predicted", **_AXIS), yaxis=dict(title="true", autorange="reversed", **_AXIS))
    return fig


def probs_bar(probs: np.ndarray, *, true: int | None = None, title: str = "") -> go.Figure:
    """All 7 class probabilities as horizontal bars, highest first: the plotly rendering of the
    :class:`ferviz.figures.display.ProbsDisplay` the exported figures draw (same order, colours, labels)."""
    d = ProbsDisplay(probs, true)
    fig = go.Figure(go.Bar(x=d.values, y=d.labels, orientation="h", marker_color=d.colors,
                           text=d.texts, textposition="auto"))
    fig.update_layout(title=title, height=260, margin=dict(l=10, r=10, t=30 if title else 10, b=10),
                      xaxis=dict(range=[0, 1], tickformat=".0%"), yaxis=dict(autorange="reversed"))
    return fig


def class_distribution(labels: np.ndarray, title: str = "Class distribution") -> go.Figure:
    counts = np.bincount(labels, minlength=7)
    fig = go.Figure(go.Bar(x=list(EMOTIONS), y=counts, text=counts, textposition="auto",
                           marker_color="#21918c"))
    fig.update_layout(title=title, height=300, margin=dict(l=10, r=10, t=40, b=10))
    return fig


def plain_confusion(cm: np.ndarray, *, rows_title: str, title: str = "", height: int = 420) -> go.Figure:
    """A 7x7 count matrix (rows `rows_title`, columns the model's prediction), not clickable."""
    cm = np.asarray(cm)
    names = np.array(EMOTIONS, dtype=object)
    xs, ys = np.meshgrid(range(7), range(7))
    fig = go.Figure(go.Heatmap(
        z=cm, x=list(range(7)), y=list(range(7)), text=cm, texttemplate="%{text}", colorscale=CONFUSION_CMAP,
        colorbar=dict(title="images"), customdata=np.stack([names[ys], names[xs]], axis=-1),
        hovertemplate=f"{rows_title} %{{customdata[0]}} → predicted %{{customdata[1]}}: %{{z}} images<extra></extra>"))
    fig.update_layout(title=title, height=height, margin=dict(l=10, r=10, t=40 if title else 10, b=10),
                      xaxis=dict(title="predicted", **_AXIS),
                      yaxis=dict(title=rows_title, autorange="reversed", **_AXIS))
    return fig


def votes_bar(votes: np.ndarray, *, title: str = "FER+ votes") -> go.Figure:
    """FER+'s 10 votes for one image: 7 emotions, contempt, unknown, not a face."""
    from ..data.ferplus import VOTE_CLASSES

    v = np.asarray(votes)
    names = [("not a face" if c == "NF" else c) for c in VOTE_CLASSES]
    top = v.max() if v.size else 0
    colors = ["#fde725" if x == top and x > 0 else ("#3b528b" if i < 7 else "#999999") for i, x in enumerate(v)]
    fig = go.Figure(go.Bar(x=v, y=names, orientation="h", marker_color=colors, text=[str(int(x)) for x in v],
                           textposition="auto",
                           hovertemplate="%{y}: %{x} of " + str(int(v.sum())) + " votes<extra></extra>"))
    fig.update_layout(title=title, height=300, margin=dict(l=10, r=10, t=30 if title else 10, b=10),
                      xaxis=dict(range=[0, max(10, int(v.sum()))], dtick=2), yaxis=dict(autorange="reversed"))
    return fig


def reliability_chart(panels: dict, *, ncols: int | None = None, height_per_row: int = 380) -> go.Figure:
    """Reliability diagrams (label -> `calibration.Reliability`), side by side: per confidence bin
    the accuracy (bars), the mean confidence (black ticks, joined to the bar by a red gap line)
    and the diagonal of perfect calibration; under each, how many images the bins hold."""
    from plotly.subplots import make_subplots

    from ..export.calibration import (  # the exported diagram's colours
        BAR_COLOR,
        GAP_COLOR,
    )

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
        fig.add_trace(go.Bar(x=mid[filled], y=acc[filled], width=width[filled], marker_color=BAR_COLOR,
                             name="accuracy", legendgroup="acc", showlegend=first, hovertext=hover,
                             hoverinfo="text"), row=top, col=c + 1)
        fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(dash="dash", color="#888", width=1),
                                 name="perfect calibration", legendgroup="diag", showlegend=first,
                                 hoverinfo="skip"), row=top, col=c + 1)
        gx, gy = [], []
        for x, a, b in zip(mid[filled], acc[filled], conf[filled]):
            gx += [x, x, None]
            gy += [a, b, None]
        fig.add_trace(go.Scatter(x=gx, y=gy, mode="lines", line=dict(color=GAP_COLOR, width=2), name="gap",
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
    fig.update_layout(height=height_per_row * nrows + 90, margin=dict(l=10, r=10, t=60, b=70), bargap=0,
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
    fig.update_layout(barmode="group", title=title, height=height, margin=dict(l=10, r=10, t=40, b=10),
                      xaxis=dict(title="share of the positive attribution", tickformat=".0%"),
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
    fig.update_layout(barmode="group", title=title, height=height, margin=dict(l=10, r=10, t=40, b=10),
                      xaxis=dict(title="share of the positive attribution", tickformat=".0%"),
                      yaxis=dict(autorange="reversed"), legend=dict(orientation="h", y=-0.25))
    return fig


def embedding_scatter(df, color_by: str = "true", *, title: str = "", height: int = 640) -> go.Figure:
    """The embedding map as a selectable WebGL scatter: one trace per colour group (the legend
    toggles them), the face's id, true and predicted class and confidence in `customdata`
    (what a box, lasso or click selection returns). Colours are the export's
    (`ferviz.export.embedding`)."""
    from ..export.embedding import CORRECT_COLORS, EMOTION_COLORS, ISSUE_COLORS

    def trace(sub, name: str, color, **marker) -> go.Scattergl:
        return go.Scattergl(
            x=sub["x"], y=sub["y"], mode="markers", name=name,
            marker=dict(color=color, size=5, opacity=0.75, **marker),
            customdata=np.stack([sub["id"].astype(str), sub["true"], sub["pred"],
                                 sub["confidence"].map(lambda c: f"{c:.0%}")], axis=1),
            hovertemplate="%{customdata[0]}<br>true %{customdata[1]} → predicted %{customdata[2]} "
                          "(%{customdata[3]})<extra></extra>")

    fig = go.Figure()
    if color_by in ("true", "pred"):
        for e in EMOTIONS:
            sub = df[df[color_by] == e]
            fig.add_trace(trace(sub, f"{e} ({len(sub)})", EMOTION_COLORS[e]))
    elif color_by == "correct":
        for ok, label in ((True, "correct"), (False, "wrong")):
            sub = df[df["correct"] == ok]
            fig.add_trace(trace(sub, f"{label} ({len(sub)})", CORRECT_COLORS[ok]))
    elif color_by == "issue":
        for verdict, color in ISSUE_COLORS.items():
            sub = df[df["issue"] == verdict]
            fig.add_trace(trace(sub, f"{verdict} ({len(sub)})", color))
    else:
        fig.add_trace(trace(df, "faces", df["confidence"], colorscale="Viridis", cmin=0, cmax=1,
                            colorbar=dict(title="confidence")))
    fig.update_layout(title=title, height=height, margin=dict(l=10, r=10, t=40, b=10),
                      xaxis=dict(showticklabels=False, title=""), yaxis=dict(showticklabels=False, title="",
                                                                             scaleanchor="x"),
                      dragmode="select", legend=dict(itemsizing="constant"), clickmode="event+select")
    return fig
