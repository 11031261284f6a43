"""Helpers for the tests of other expression sets than FER2013's seven: an eight-class model built
from a shipped one, hand-built ones, and CK+/AffectNet-style class folders written from faces.
Plain functions, no fixtures (no test module imports a test module)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ferviz.labels import NAMES

#: AffectNet's eight classes in its label order (its own spelling: "anger")
AFFECTNET_ORDER = ("neutral", "happy", "sad", "surprise", "fear", "disgust", "anger", "contempt")
#: CK+'s folder names (seven with contempt, no neutral)
CKPLUS_FOLDERS = ("anger", "contempt", "disgust", "fear", "happy", "sadness", "surprise")
ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "models" / "baseline_cnn.json"


def eight_class_model(out_dir: Path, base: Path = BASELINE, order=AFFECTNET_ORDER,
                      contempt_bias: float = 1.0) -> Path:
    """A card (path) for an eight-class model in `order`: the shipped `base` model's layers up to
    its last Dense, then a Dense of eight outputs whose seven FER2013 columns are the base's
    weights and whose contempt column is the mean of its neutral and happy columns, biased by
    `contempt_bias` (so faces between neutral and happy read as contempt). Its predictions on
    the seven classes are the base's wherever contempt does not win."""
    import keras

    from ferviz.labels import class_index

    card = json.loads(base.read_text())
    model = keras.models.load_model(base.parent / card["file"], compile=False)
    last = model.layers[-1]
    kernel, bias = (np.asarray(w) for w in last.get_weights())
    base_cols = {class_index(c): i for i, c in enumerate(card["classes"])}
    k = np.zeros((kernel.shape[0], len(order)), np.float32)
    b = np.zeros(len(order), np.float32)
    for j, name in enumerate(order):
        c = class_index(name)
        if c in base_cols:
            k[:, j], b[j] = kernel[:, base_cols[c]], bias[base_cols[c]]
        else:
            cols = [base_cols[class_index("neutral")], base_cols[class_index("happy")]]
            k[:, j] = kernel[:, cols].mean(axis=1)
            b[j] = bias[cols].mean() + contempt_bias
    head = keras.layers.Dense(len(order), activation="softmax", name="probs8")
    out = head(last.input)
    eight = keras.Model(model.inputs, out, name="eight_class")
    head.set_weights([k, b])
    out_dir.mkdir(parents=True, exist_ok=True)
    eight.save(out_dir / "eight_class.keras")
    card.update(name="Baseline CNN + contempt", file="eight_class.keras", classes=list(order),
                description="Test model: the baseline CNN with a contempt output", metrics={})
    path = out_dir / "eight_class.json"
    path.write_text(json.dumps(card, indent=2))
    return path


def write_folders(root: Path, faces: np.ndarray, labels: np.ndarray, folder_names: dict[int, str],
                  split_folder: str = "test") -> Path:
    """Write faces as ``root/<split_folder>/<class folder>/<n>.png`` (`folder_names`: class index
    -> the dataset's own folder name, e.g. 0 -> "anger"); returns `root`."""
    from PIL import Image

    for i, (face, lab) in enumerate(zip(faces, labels)):
        d = root / split_folder / folder_names.get(int(lab), NAMES[int(lab)])
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.asarray(face, np.uint8)).save(d / f"{split_folder}_{i:05d}.png")
    return root
