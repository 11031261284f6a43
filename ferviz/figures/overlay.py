"""Attribution maps to colour, and blending onto faces (numpy + Pillow only).

The default colormap is matplotlib's ``viridis``: perceptually uniform and readable with
the common colour-vision deficiencies (``cividis`` is offered for strict CVD use).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
from PIL import Image

from ..errors import ExportError

DEFAULT_CMAP = "viridis"
CMAPS = ("viridis", "cividis", "magma", "inferno", "plasma", "turbo", "jet")


@lru_cache(maxsize=16)
def colormap_lut(name: str = DEFAULT_CMAP) -> np.ndarray:
    """A (256, 3) uint8 lookup table for a matplotlib colormap name."""
    import matplotlib

    try:
        cmap = matplotlib.colormaps[name]
    except KeyError:
        raise ExportError(f"unknown colormap {name!r}; try one of {', '.join(CMAPS)}") from None
    return (cmap(np.linspace(0, 1, 256))[:, :3] * 255).round().astype(np.uint8)


def normalise_map(m: np.ndarray) -> np.ndarray:
    """Scale a map to [0, 1] (a constant or non-finite map becomes zeros)."""
    m = np.nan_to_num(np.asarray(m, np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    lo, hi = float(m.min()), float(m.max())
    return (m - lo) / (hi - lo) if hi > lo else np.zeros_like(m)


def resize_map(m: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Smoothly (bicubic) resize a 2-D float map to size=(height, width), clipped to [0, 1]."""
    m = np.asarray(m, np.float32)
    if m.shape == tuple(size):
        return m
    img = Image.fromarray(m, mode="F").resize((size[1], size[0]), Image.Resampling.BICUBIC)
    return np.clip(np.asarray(img), 0.0, 1.0)


def heatmap_rgba(m: np.ndarray, cmap: str = DEFAULT_CMAP, alpha: float = 0.5,
                 size: tuple[int, int] | None = None) -> np.ndarray:
    """Map in [0,1] -> (H, W, 4) uint8 RGBA with constant opacity `alpha`."""
    if not 0.0 <= alpha <= 1.0:
        raise ExportError(f"opacity must lie in [0, 1], got {alpha}")
    m = normalise_map(m)
    if size:
        m = resize_map(m, size)
    rgb = colormap_lut(cmap)[np.round(m * 255).astype(np.uint8)]
    a = np.full(m.shape + (1,), round(alpha * 255), np.uint8)
    return np.concatenate([rgb, a], axis=-1)


def face_rgb(face: np.ndarray, size: tuple[int, int] | None = None) -> np.ndarray:
    """A grayscale (H, W) or RGB face as (H, W, 3) uint8, optionally resized (bicubic)."""
    f = np.asarray(face)
    if f.dtype != np.uint8:
        f = np.clip(f, 0, 255).astype(np.uint8)
    img = Image.fromarray(f).convert("RGB")
    if size and img.size != (size[1], size[0]):
        img = img.resize((size[1], size[0]), Image.Resampling.BICUBIC)
    return np.asarray(img)


def overlay(face: np.ndarray, m: np.ndarray, alpha: float = 0.5, cmap: str = DEFAULT_CMAP,
            size: tuple[int, int] | None = None) -> np.ndarray:
    """Blend a map onto a face: (H, W, 3) uint8 at `size` (default: the face's size)."""
    base = face_rgb(face, size)
    heat = heatmap_rgba(m, cmap, alpha, size=base.shape[:2])
    a = heat[..., 3:4].astype(np.float32) / 255.0
    out = base.astype(np.float32) * (1 - a) + heat[..., :3].astype(np.float32) * a
    return np.round(out).astype(np.uint8)


def colorbar_rgb(width: int = 480, height: int = 14, cmap: str = DEFAULT_CMAP) -> np.ndarray:
    """A horizontal colour bar (height, width, 3) uint8 of `cmap`, low (left) to high (right): the
    legend of the overlays, whose maps are each scaled to [0, 1]."""
    if width < 2 or height < 1:
        raise ExportError(f"a colour bar needs width >= 2 and height >= 1, got {width}x{height}")
    idx = np.round(np.linspace(0, 255, int(width))).astype(np.uint8)
    return np.ascontiguousarray(np.broadcast_to(colormap_lut(cmap)[idx][None], (int(height), int(width), 3)))
