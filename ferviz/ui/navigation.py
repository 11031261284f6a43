"""The dashboard's pages in one table: their URLs, titles, icons and sections, and the st.Page
objects that hand each page's ``render`` the sidebar's context explicitly."""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

import streamlit as st

if TYPE_CHECKING:
    from .context import Context


@dataclass(frozen=True)
class PageSpec:
    """One page: ``name`` is its module under ``ferviz.ui.pages`` and its URL path."""

    name: str
    title: str
    icon: str
    section: str
    default: bool = False


PAGES: tuple[PageSpec, ...] = (
    PageSpec("overview", "Overview", ":material/dashboard:", "Analyse", default=True),
    PageSpec("errors", "Errors", ":material/grid_view:", "Analyse"),
    PageSpec("slices", "Failure slices", ":material/troubleshoot:", "Analyse"),
    PageSpec("stress", "Stress test", ":material/blur_on:", "Analyse"),
    PageSpec("inspector", "Inspector", ":material/search:", "Analyse"),
    PageSpec("compare", "Compare models", ":material/compare:", "Analyse"),
    PageSpec("calibration", "Calibration", ":material/speed:", "Analyse"),
    PageSpec("embedding", "Embedding map", ":material/scatter_plot:", "Analyse"),
    PageSpec("review", "Label review", ":material/rate_review:", "Analyse"),
    PageSpec("prototypes", "Prototypes", ":material/category:", "Analyse"),
    PageSpec("upload", "Your face", ":material/photo_camera:", "Try"),
    PageSpec("data", "Dataset", ":material/dataset:", "Setup"),
)
_BY_NAME = {p.name: p for p in PAGES}


def _render(name: str, ctx: Context) -> None:
    importlib.import_module(f"ferviz.ui.pages.{name}").render(ctx)


def page(name: str, ctx: Context | None = None) -> st.Page:
    """The st.Page of `name` (for st.navigation, st.switch_page and st.page_link); its render gets `ctx`."""
    spec = _BY_NAME[name]
    return st.Page(partial(_render, name, ctx), title=spec.title, icon=spec.icon, url_path=spec.name,
                    default=spec.default)


def sections(ctx: Context) -> dict[str, list[st.Page]]:
    """Every page by section, in the menu's order, each rendering with `ctx`."""
    out: dict[str, list[st.Page]] = {}
    for spec in PAGES:
        out.setdefault(spec.section, []).append(page(spec.name, ctx))
    return out
