"""One model identity for every cache, and memos kept beside a model object instead of on it.

:class:`ModelIdentity` is what a model's predictions and maps depend on: the model file's
bytes (sha256) and the card fields that change them, i.e. input height, width, channels and
scale, the class order, test-time augmentation and the Grad-CAM layer. The card's name,
description, training notes and metrics are not part of it, so editing them keeps every cache.
Each cache key is built from :attr:`ModelIdentity.key` plus its own parts (data hash, method,
parameters, views, its version): predictions, embedding features, attribution maps and their
explainers, the trust table and the app's in-process caches (``ModelCard.compute_key``).

:class:`ModelMemo` holds what ferviz builds once per loaded Keras model (traced inference and
feature functions, explainers): keyed weakly by the model object, so nothing is set on the
user's model and an entry goes when the model is garbage-collected. Values must not hold the
model itself strongly (a closure over the model would keep it alive): use a ``weakref``.
"""
from __future__ import annotations

import threading
import weakref
from dataclasses import astuple, dataclass
from typing import Any, Callable, Hashable

from .. import cache

#: changes every cache key built on an identity when what an identity means changes
IDENTITY_VERSION = "1"


@dataclass(frozen=True)
class ModelIdentity:
    """The file and card fields a model's predictions and maps depend on (hashable, comparable).

    ``model_hash`` is the sha256 of the model file, or None for an identity used beside a loaded
    model object (:meth:`ModelCard.identity` with ``with_file=False``): the object stands for
    the weights there, and the card's file need not exist."""

    model_hash: str | None
    height: int
    width: int
    channels: int
    scale: tuple[float, float]
    classes: tuple[str, ...]
    tta: str | None
    gradcam_layer: str | None

    @classmethod
    def of(cls, card, model_hash: str | None) -> "ModelIdentity":
        i = card.input
        return cls(model_hash, int(i.height), int(i.width), int(i.channels),
                   (float(i.scale[0]), float(i.scale[1])), tuple(str(c) for c in card.classes),
                   card.tta, card.gradcam_layer)

    @property
    def key(self) -> str:
        """A short stable hash of the whole identity (part of file names and cache keys)."""
        return cache.key_hash("model-identity", IDENTITY_VERSION, *[list(v) if isinstance(v, tuple) else v
                                                                   for v in astuple(self)])


class ModelMemo:
    """Values built once per (model object, key), stored beside the model, never on it.

    Keyed weakly by the model (Keras models are weak-referenceable and hash by identity), so an
    entry is dropped when its model is collected. A model that cannot be weakly referenced gets
    a fresh value each time (nothing is remembered)."""

    def __init__(self) -> None:
        self._by_model: "weakref.WeakKeyDictionary[Any, dict]" = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def get(self, model, key: Hashable, build: Callable[[], Any]) -> Any:
        """The value for (model, key), built by `build()` the first time."""
        try:
            with self._lock:
                per = self._by_model.get(model)
                if per is not None and key in per:
                    return per[key]
        except TypeError:  # not weak-referenceable or not hashable
            return build()
        value = build()  # outside the lock: building may trace or load
        with self._lock:
            return self._by_model.setdefault(model, {}).setdefault(key, value)

    def entries(self, model=None) -> int:
        """How many values are held (for one model, or for all)."""
        with self._lock:
            if model is not None:
                try:
                    return len(self._by_model.get(model) or {})
                except TypeError:
                    return 0
            return sum(len(v) for v in self._by_model.values())

    def models(self) -> int:
        """How many model objects have values here."""
        with self._lock:
            return len(self._by_model)

    def clear(self) -> None:
        with self._lock:
            self._by_model.clear()
