"""The seven FER2013 emotions, in FER2013 label order, and name/index mapping."""
from __future__ import annotations

from .errors import LabelError

EMOTIONS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
NUM_CLASSES = len(EMOTIONS)
SPLITS: tuple[str, ...] = ("Training", "PublicTest", "PrivateTest")

_ALIASES = {"anger": "angry", "disgusted": "disgust", "fearful": "fear", "scared": "fear",
            "happiness": "happy", "sadness": "sad", "surprised": "surprise", "calm": "neutral"}


def emotion_index(name: str | int) -> int:
    """Return the FER2013 index of an emotion name (case-insensitive) or validate an index."""
    if isinstance(name, (int,)) and not isinstance(name, bool):
        if 0 <= name < NUM_CLASSES:
            return int(name)
        raise LabelError(f"emotion index {name} is outside 0-{NUM_CLASSES - 1}")
    key = str(name).strip().lower()
    if key.isdigit():
        return emotion_index(int(key))
    key = _ALIASES.get(key, key)
    if key not in EMOTIONS:
        raise LabelError(f"unknown emotion {name!r}; expected one of {', '.join(EMOTIONS)}")
    return EMOTIONS.index(key)


def normalise_split(split: str) -> str:
    """Return the canonical split name for e.g. 'privatetest' or 'private'."""
    key = str(split).strip().lower().replace("_", "").replace("-", "")
    for s in SPLITS:
        if key in (s.lower(), s.lower().replace("test", "")):
            return s
    if key in ("train", "training"):
        return "Training"
    raise LabelError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
