"""Model cards: what a model file cannot say (name, input size/channels/scaling, class order,
Grad-CAM layer, test-time views), validated when read."""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from .. import cache
from ..errors import ModelError
from ..labels import EMOTIONS, NAMES, class_index, names_of
from .identity import ModelIdentity
from .tta import TTA_MODES


@dataclass(frozen=True)
class InputSpec:
    """What the model expects: size, channels and the range pixel 0..255 maps to."""

    height: int = 48
    width: int = 48
    channels: int = 1
    scale: tuple[float, float] = (0.0, 1.0)

    def __post_init__(self):
        for k in ("height", "width"):
            v = getattr(self, k)
            if not isinstance(v, int) or isinstance(v, bool) or not 8 <= v <= 1024:
                raise ModelError(f"input.{k} must be an integer in 8-1024, got {v!r}")
        if self.channels not in (1, 3):
            raise ModelError(f"input.channels must be 1 or 3, got {self.channels!r}")
        if len(self.scale) != 2 or self.scale[0] == self.scale[1]:
            raise ModelError(f"input.scale must be two different numbers, got {self.scale!r}")


@dataclass(frozen=True)
class ModelCard:
    """Metadata for one model file; `path` is the card's own location."""

    name: str
    file: str
    input: InputSpec = field(default_factory=InputSpec)
    classes: tuple[str, ...] = EMOTIONS
    gradcam_layer: str | None = None
    tta: str | None = None  # "mirror": average with the flipped face; "mirror+shift": and 4 shifts
    description: str = ""
    training: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    @property
    def model_path(self) -> Path:
        base = self.path.parent if self.path else Path.cwd()
        return (base / self.file).resolve()

    @property
    def key(self) -> str:
        """Short identifier used in file names (the card's stem)."""
        return self.path.stem if self.path else Path(self.file).stem

    @property
    def output_to_fer(self) -> np.ndarray:
        """For each model output index, its class index (:data:`ferviz.labels.NAMES`)."""
        return np.array([class_index(c) for c in self.classes])

    @property
    def class_ids(self) -> tuple[int, ...]:
        """The class indices the model can output, in vocabulary order."""
        return tuple(sorted(int(k) for k in self.output_to_fer))

    @property
    def model_classes(self) -> tuple[str, ...]:
        """The class names the model can output, in vocabulary order (its own order is `classes`)."""
        return names_of(self.class_ids)

    def output_of(self, classes) -> np.ndarray:
        """Class indices -> the model's output indices; a class the model lacks is refused."""
        col = {int(k): i for i, k in enumerate(self.output_to_fer)}
        c = np.asarray(classes, np.int64)
        missing = sorted({int(k) for k in c.ravel()} - set(col))
        if missing:
            raise ModelError(f"{self.name} cannot output {', '.join(NAMES[k] for k in missing)}; its classes "
                             f"are {', '.join(self.model_classes)}")
        return np.vectorize(col.__getitem__, otypes=[np.int64])(c) if c.size else c

    def model_hash(self) -> str:
        """sha256 of the model file's bytes (memoised on its path, size and mtime)."""
        return cache.file_hash(self.model_path)

    def identity(self, model_hash: str | None = None, *, with_file: bool = True) -> ModelIdentity:
        """What this model's predictions and maps depend on (:class:`.identity.ModelIdentity`):
        the model file's hash and the card's input height/width/channels/scale, class order,
        test-time augmentation and Grad-CAM layer; not its name, description, training or metrics.

        `model_hash`: the file's sha256 when already known (default: hashed from the file).
        ``with_file=False``: without the file hash, for memos keyed by a loaded model object
        (the object stands for the weights; the file need not exist)."""
        if not with_file:
            return ModelIdentity.of(self, None)
        return ModelIdentity.of(self, model_hash or self.model_hash())

    def compute_key(self) -> str:
        """The key of :meth:`identity` (the app's in-process caches use it): editing the model file
        or any card field predictions and maps depend on changes it; renaming the card does not."""
        return self.identity().key

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("path")
        d["input"]["scale"] = list(self.input.scale)
        d["classes"] = list(self.classes)
        return d

    def save(self, path: str | os.PathLike) -> "ModelCard":
        p = Path(path)
        cache.atomic_write_bytes(p, (json.dumps(self.to_json(), indent=2) + "\n").encode())
        return replace(self, path=p.resolve())


def card_from_dict(d: dict[str, Any], path: Path | None = None) -> ModelCard:
    """Validate a card's JSON content; ModelError names the card and the bad field."""
    where = str(path) if path else "model card"
    if not isinstance(d, dict):
        raise ModelError(f"{where}: a card must be a JSON object")
    for k in ("name", "file"):
        if not isinstance(d.get(k), str) or not d[k].strip():
            raise ModelError(f"{where}: missing or empty {k!r}")
    if not isinstance(d.get("input"), dict) or "scale" not in d["input"]:
        raise ModelError(f"{where}: missing 'input.scale', the range pixel values 0..255 are mapped to "
                         "(e.g. \"input\": {\"height\": 48, \"width\": 48, \"channels\": 1, \"scale\": [0, 1]}; "
                         "[-1, 1] or [0, 255] for models trained so): without it the model would be fed the "
                         "wrong values")
    try:
        inp = dict(d["input"])
        inp["scale"] = tuple(float(x) for x in inp["scale"])
        unknown = set(inp) - {"height", "width", "channels", "scale"}
        if unknown:
            raise ModelError(f"unknown input field(s) {', '.join(sorted(unknown))}")
        spec = InputSpec(**inp)
        classes = _classes(d.get("classes", EMOTIONS))
    except (ModelError, ValueError, TypeError) as e:
        raise ModelError(f"{where}: {e}") from None
    for k in ("training", "metrics"):
        if not isinstance(d.get(k) or {}, dict):
            raise ModelError(f"{where}: {k!r} must be a JSON object")
    for split, m in (d.get("metrics") or {}).items():
        if split == "command":
            continue
        bad = not isinstance(m, dict) or any(
            k in m and (isinstance(m[k], bool) or not isinstance(m[k], (int, float)) or not 0 <= m[k] <= 1)
            for k in ("accuracy", "macro_f1"))
        if bad:
            raise ModelError(f"{where}: metrics.{split} must be an object whose accuracy and macro_f1 "
                             f"are numbers from 0 to 1, got {m!r}")
    return ModelCard(name=d["name"], file=d["file"], input=spec, classes=classes,
                     gradcam_layer=d.get("gradcam_layer") or None, tta=_tta(d.get("tta"), where),
                     description=str(d.get("description", "")),
                     training=dict(d.get("training") or {}), metrics=dict(d.get("metrics") or {}),
                     path=path.resolve() if path else None)


def _classes(value: Any) -> tuple[str, ...]:
    """A card's classes in the model's output order, as vocabulary names: any 2 or more of the
    known names or aliases, each once."""
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise ModelError(f"classes must be a list of class names in the model's output order, got {value!r}")
    idx = [class_index(str(c)) for c in value]
    if len(idx) < 2:
        raise ModelError(f"classes must name at least 2 classes, got {list(value)}")
    dup = sorted({NAMES[k] for k in idx if idx.count(k) > 1})
    if dup:
        raise ModelError(f"classes name {', '.join(dup)} more than once (aliases count as the same class): "
                         f"{list(value)}")
    return names_of(idx)


def _tta(value: Any, where: str) -> str | None:
    if value in (None, False, "", "none"):
        return None
    if value not in TTA_MODES:
        raise ModelError(f"{where}: tta must be \"mirror\", \"mirror+shift\" or absent, got {value!r}")
    return value


def load_card(path: str | os.PathLike) -> ModelCard:
    """Read and validate a card file."""
    p = Path(path)
    try:
        d = json.loads(p.read_text())
    except FileNotFoundError:
        raise ModelError(f"{p}: no such model card") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ModelError(f"{p}: not valid JSON ({e})") from None
    card = card_from_dict(d, p)
    if not card.model_path.is_file():
        raise ModelError(f"{p}: model file {card.file!r} not found beside the card")
    return card
