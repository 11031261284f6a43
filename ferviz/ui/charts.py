"""Plotly figures for the dashboard (built from core results; no computation here)."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from ..labels import EMOTIONS

_AXIS = dict(tickmode="array", tickvals=list(range(7)), ticktext=list(EMOTIONS))


def confusion_heatmap(cm: np.ndarray, counts: np.ndarray, *, normalized: bool, title: str = "") -> go.Figure:
    """Confusion matrix heatmap, rows true, columns predicted, clickable per cell.

    Streamlit returns no selection for heatmap clicks, so a nearly invisible square marker sits
    on every cell centre: a click selects it and returns {"x": pred, "y": true}.
    """
    text = [[(f"{cm[t, p]:.0%}<br>{counts[t, p]}" if normalized else f"{counts[t, p]}")
             for p in range(7)] for t in range(7)]
    fig = go.Figure(go.Heatmap(z=cm, x=list(range(7)), y=list(range(7)), text=text, texttemplate="%{text}",
                               colorscale="Viridis", hoverinfo="skip",
                               colorbar=dict(title="share" if normalized else "images")))
    xs, ys = np.meshgrid(range(7), range(7))
    fig.add_trace(go.Scatter(
        x=xs.ravel(), y=ys.ravel(), mode="markers", showlegend=False,
        marker=dict(symbol="square", size=46, color="rgba(255,255,255,0.01)"),
        customdata=np.stack([np.array(EMOTIONS)[ys.ravel()], np.array(EMOTIONS)[xs.ravel()],
                             counts.ravel()], axis=1),
        hovertemplate="true %{customdata[0]} → predicted %{customdata[1]}: %{customdata[2]} images"
                      "<br>click to open<extra></extra>"))
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
    """All 7 class probabilities as horizontal bars; the prediction and true class are marked."""
    pred = int(np.argmax(probs))
    colors = ["#3b528b"] * 7
    colors[pred] = "#fde725" if true is None or pred == true else "#d62728"
    labels = [f"{e} (true)" if i == true else e for i, e in enumerate(EMOTIONS)]
    fig = go.Figure(go.Bar(x=probs, y=labels, orientation="h", marker_color=colors,
                           text=[f"{p:.1%}" for p in probs], textposition="auto"))
    fig.update_layout(title=title, height=260, margin=dict(l=10, r=10, t=30 if title else 10, b=10),
                      xaxis=dict(range=[0, 1], tickformat=".0%"), yaxis=dict(autorange="reversed"))
    return fig


def class_distribution(labels: np.ndarray, title: str = "Class distribution") -> go.Figure:
    counts = np.bincount(labels, minlength=7)
    fig = go.Figure(go.Bar(x=list(EMOTIONS), y=counts, text=counts, textposition="auto",
                           marker_color="#21918c"))
    fig.update_layout(title=title, height=300, margin=dict(l=10, r=10, t=40, b=10))
    return fig
