"""Model cards, the model registry, safe loading and preprocessing.

A model is a Keras file plus a JSON card beside it (``<stem>.json``) saying what the file
cannot: display name, input size/channels/scaling, class order and the Grad-CAM layer.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from . import cache, config
from .labels import EMOTIONS, NUM_CLASSES, emotion_index


class ModelError(ValueError):
    """A model file or card that cannot be used; the message says why."""


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
        """For each model output index, the FER2013 class index."""
        return np.array([emotion_index(c) for c in self.classes])

    def model_hash(self) -> str:
        return cache.file_hash(self.model_path)

    def compute_key(self) -> str:
        """Identifies what predictions and maps depend on: the model file and the card's input,
        classes, test-time augmentation and Grad-CAM layer (editing any of them changes it)."""
        return cache.key_hash(self.model_hash(), self.input.height, self.input.width, self.input.channels,
                              list(self.input.scale), list(self.classes), self.tta, self.gradcam_layer)

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
    try:
        inp = dict(d.get("input") or {})
        if "scale" in inp:
            inp["scale"] = tuple(float(x) for x in inp["scale"])
        unknown = set(inp) - {"height", "width", "channels", "scale"}
        if unknown:
            raise ModelError(f"unknown input field(s) {', '.join(sorted(unknown))}")
        spec = InputSpec(**inp)
        classes = tuple(str(c).lower() for c in d.get("classes", EMOTIONS))
        idx = [emotion_index(c) for c in classes]
        if len(classes) != NUM_CLASSES or sorted(idx) != list(range(NUM_CLASSES)):
            raise ModelError(f"classes must name each of the 7 emotions once, got {list(classes)}")
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


from .tta import TTA_MODES  # noqa: E402  (one definition, re-exported)


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


def list_cards(*folders: str | os.PathLike) -> tuple[list[ModelCard], list[str]]:
    """Cards in models/, FERVIZ_MODELS and the given folders; also the problems found."""
    dirs = [config.MODELS_DIR, *config.extra_model_dirs(), *map(Path, folders)]
    cards, problems, seen = [], [], set()
    for d in dirs:
        if not Path(d).is_dir():
            if Path(d) != config.MODELS_DIR:
                problems.append(f"{d}: not a folder")
            continue
        for f in sorted(Path(d).glob("*.json")):
            if f.name.endswith((".history.json", ".metrics.json")) or f.resolve() in seen:
                continue
            seen.add(f.resolve())
            try:
                card = load_card(f)
            except ModelError as e:
                problems.append(str(e))
                continue
            first = next((c for c in cards if c.key == card.key), None)
            if first is not None:  # keys name models in links, caches and file names: one each
                problems.append(f"{f}: not listed, {first.path} has the same name {card.key!r}; "
                                "rename one of the two")
                continue
            cards.append(card)
    return cards, problems


def find_card(name_or_path: str, *folders: str | os.PathLike) -> ModelCard:
    """A card by path (card JSON or model file) or by name/stem in the registry."""
    p = Path(name_or_path)
    if p.suffix == ".json" and p.exists():
        return load_card(p)
    if p.suffix in (".keras", ".h5") and p.exists():
        card_path = p.with_suffix(".json")
        if not card_path.exists():
            raise ModelError(f"{p}: no model card {card_path.name} beside it")
        return load_card(card_path)
    cards, _ = list_cards(*folders)
    for c in cards:
        if name_or_path in (c.key, c.name):
            return c
    names = ", ".join(c.key for c in cards) or "none"
    raise ModelError(f"no model {name_or_path!r} (available: {names})")


def load_model(card: ModelCard):
    """Load the card's Keras model in safe mode and check it against the card."""
    import keras

    p = card.model_path
    if p.suffix not in (".keras", ".h5", ".hdf5"):
        raise ModelError(f"{p}: expected a .keras or .h5 file")
    try:
        model = keras.models.load_model(p, compile=False, safe_mode=True)
    except Exception as e:  # Keras raises many types for bad files
        msg = str(e).splitlines()[0][:300] if str(e) else type(e).__name__
        raise ModelError(f"{p}: not a loadable Keras model ({msg})") from None
    check_model(model, card)
    return model


def check_model(model, card: ModelCard) -> None:
    """Refuse a model whose input or output does not match the card."""
    where = card.path or card.file
    try:
        in_shape = tuple(model.input_shape)
        out_shape = tuple(model.output_shape)
    except (AttributeError, ValueError) as e:
        raise ModelError(f"{where}: model has no single input and output ({e})") from None
    if out_shape[-1] != NUM_CLASSES or len(out_shape) != 2:
        raise ModelError(f"{where}: model outputs shape {out_shape[1:]}, expected 7 classes")
    want = (card.input.height, card.input.width, card.input.channels)
    got = tuple(in_shape[1:])
    if len(got) != 3 or any(g is not None and g != w for g, w in zip(got, want)):
        raise ModelError(f"{where}: card says input {want} but the model takes {got}")
    if card.gradcam_layer:
        names = {layer.name for layer in model.layers}
        if card.gradcam_layer not in names:
            raise ModelError(f"{where}: gradcam_layer {card.gradcam_layer!r} is not a layer of the model")


def activation_name(layer) -> str:
    """The lower-case name of a layer's activation ("softmax", "linear", ...; "nonetype" if none)."""
    fn = getattr(layer, "activation", None)
    return getattr(fn, "__name__", type(fn).__name__).lower()


def output_head(model) -> str:
    """What a model outputs, read from its last layer (inside a nested model as last layer):
    "probs" (softmax), "logits" (a linear activation) or "scores" (anything else)."""
    last = model.layers[-1]
    while getattr(last, "layers", None):
        last = last.layers[-1]
    act = activation_name(last)
    if type(last).__name__ == "Softmax" or act == "softmax":
        return "probs"
    return "logits" if act == "linear" else "scores"


def preprocess(images: np.ndarray, spec: InputSpec) -> np.ndarray:
    """uint8 faces (N,H,W) or (N,H,W,1) -> float32 model input (N,h,w,c) per the card."""
    x = np.asarray(images)
    if x.ndim == 2:
        x = x[None]
    if x.ndim == 4 and x.shape[-1] == 1:
        x = x[..., 0]
    if x.ndim != 3:
        raise ValueError(f"expected grayscale images (N,H,W), got shape {np.shape(images)}")
    x = x.astype(np.float32)
    if x.shape[1:] != (spec.height, spec.width):
        import tensorflow as tf

        x = tf.image.resize(x[..., None], (spec.height, spec.width), method="bilinear",
                            antialias=True).numpy()[..., 0]
    lo, hi = spec.scale
    x = x * ((hi - lo) / 255.0) + lo
    x = x[..., None]
    if spec.channels == 3:
        x = np.repeat(x, 3, axis=-1)
    return x
