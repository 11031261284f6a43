"""Disk cache of attribution maps: one small .npz per (image, target), written atomically.

Entries live in ``<cache>/attributions/<model>-<method>-<key>/`` where the key hashes the
model's identity (:meth:`ferviz.models.ModelCard.identity`: the model file and the card fields
that change the maps: input spec, class order, test-time views, Grad-CAM layer), the dataset,
the views applied and the method's full parameters (defaults included), so a changed model,
dataset or setting never returns a stale map. One file per image makes a batch
precompute resumable and a single map fetch cheap.
"""
from __future__ import annotations

import re
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .. import cache, config
from ..errors import AttributionError
from ..models import ModelCard

Progress = Callable[[float, str], None]
_VERSION = "5"  # 2-3: maps follow the card's test-time views; non-finite maps blank; 4: ModelCard.identity;
# 5: views averaged per pixel over the views that showed it, padding dropped (no frame at the border)
_MEMORY: "OrderedDict[Path, np.ndarray]" = OrderedDict()  # recently used maps of this process
MEMORY_ENTRIES = 4096  # ~38 MB of 48x48 float32 maps


def _remember(path: Path, m: np.ndarray) -> None:
    _MEMORY[path] = m
    _MEMORY.move_to_end(path)
    while len(_MEMORY) > MEMORY_ENTRIES:
        _MEMORY.popitem(last=False)


_REQUESTS: "OrderedDict[tuple, np.ndarray]" = OrderedDict()  # whole repeated requests (app reruns)
REQUEST_ENTRIES = 256


def clear_memory() -> None:
    """Forget the in-process copies (the disk cache stays)."""
    _MEMORY.clear()
    _REQUESTS.clear()


def _folder(explainer, card: ModelCard, model_hash: str, data_hash: str, method: str, params: dict,
            tta: str | None) -> Path:
    """The model's identity (with `model_hash`), the data, the method with its settings and
    resolved layer, and the views applied (`tta`: the card's for "tta", None for "single")."""
    settings = sorted((k, v) for k, v in params.items() if k != "batch_size")
    key = cache.key_hash(_VERSION, card.identity(model_hash).key, data_hash, method, settings,
                         explainer.identity(), tta)
    return config.cache_dir() / "attributions" / f"{card.key}-{method}-{key}"


def _entry(folder: Path, image_id: Any, target: int) -> Path:
    s = str(image_id)
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", s)[:80]
    return folder / f"{safe}-{cache.key_hash(s)[:8]}-t{int(target)}.npz"


def cached_explain(model, card: ModelCard, images: np.ndarray, ids, data_hash: str, targets: Any,
                   method: str = "gradcam", *, views: str = "tta", progress: Progress | None = None,
                   chunk: int = 64, model_hash: str | None = None, compute: bool = True,
                   **params: Any) -> np.ndarray | None:
    """Like :func:`explain`, reading and filling the disk cache; `progress(frac, text)` per batch.

    `ids` identify the images within `data_hash` (e.g. FERSplit.ids and .data_hash);
    `model_hash` defaults to the hash of the card's model file; `chunk` images are explained per
    call between cache writes (a method's own `batch_size` does not change maps or keys); `views`
    is "tta" (the card's test-time augmentation, the default) or "single". With `compute=False`
    nothing is computed: the maps when all are cached (memory or disk), else None.
    """
    from .base import check_images, fer_targets
    from .methods import get_explainer

    faces = check_images(images)
    n = len(faces)
    ids = np.asarray(ids).ravel()
    if len(ids) != n:
        raise AttributionError(f"got {len(ids)} ids for {n} images")
    fer = fer_targets(targets, n)
    mh = model_hash or card.model_hash()
    explainer = get_explainer(model, card, method)
    tta = explainer.tta_of(views)
    # id(model): the same model object (its explainer's maps); card.key: the folder the maps are kept in
    request = (id(model), card.key, card.identity(mh).key, tta, data_hash, method, repr(sorted(params.items())),
               ids.tobytes(), fer.tobytes())
    hit = _REQUESTS.get(request)
    if hit is not None and hit.shape == faces.shape:
        _REQUESTS.move_to_end(request)
        if progress:
            progress(1.0, f"{n}/{n} cached")
        return hit.copy()
    p = explainer.params(**params)
    folder = _folder(explainer, card, mh, data_hash, method, p, tta)
    paths = [_entry(folder, i, t) for i, t in zip(ids, fer)]
    maps = np.empty(faces.shape, np.float32)
    missing = []
    for k, path in enumerate(paths):
        mem = _MEMORY.get(path)
        if mem is not None and mem.shape == faces.shape[1:]:
            maps[k] = mem
            continue
        hit = cache.load_arrays(path)
        if hit is not None and hit.get("map") is not None and hit["map"].shape == faces.shape[1:]:
            maps[k] = hit["map"]
            _remember(path, hit["map"])
        else:
            missing.append(k)
    if missing and not compute:
        return None
    done = n - len(missing)
    if progress:
        progress(done / n, f"{done}/{n} cached")
    for s in range(0, len(missing), max(1, int(chunk))):
        idx = np.asarray(missing[s:s + max(1, int(chunk))])
        maps[idx] = explainer(faces[idx], fer[idx], views=views, **p)
        for k in idx:
            cache.save_arrays(paths[k], map=maps[k])
            _remember(paths[k], maps[k].copy())
        done += len(idx)
        if progress:
            progress(done / n, f"{method} {done}/{n}")
    _REQUESTS[request] = maps.copy()
    while len(_REQUESTS) > REQUEST_ENTRIES:
        _REQUESTS.popitem(last=False)
    return maps


def precompute(model, card: ModelCard, data, targets: Any, method: str = "gradcam", *, views: str = "tta",
               progress: Progress | None = None, **params: Any) -> np.ndarray:
    """Fill the cache for a whole FERSplit (or subset) and return its maps."""
    return cached_explain(model, card, data.images, data.ids, data.data_hash, targets, method, views=views,
                          progress=progress, **params)
