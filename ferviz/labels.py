"""One vocabulary of expression names, with aliases, and the split names.

Every class index in ferviz is an index into :data:`NAMES`: FER2013's seven emotions in FER2013
label order (0 angry ... 6 neutral), then contempt (7, FER+, AffectNet and CK+ have it), then
FER+'s two non-classes, unknown (8) and not a face (9). A dataset's faces are labelled only with
expression classes (0-7); a model may also output the non-classes (FER+'s ten-way models), which
then appear as predictions only. Because a class set is always kept in this order, FER2013's seven
classes are indices 0-6 whether or not a model adds contempt.
"""
from __future__ import annotations

from typing import Iterable, Sequence

from .errors import LabelError

#: FER2013's seven emotions, in its label order
EMOTIONS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
NUM_CLASSES = len(EMOTIONS)  # FER2013's class count
#: the expression classes a face can be labelled with: FER2013's seven and contempt
EXPRESSIONS: tuple[str, ...] = EMOTIONS + ("contempt",)
#: FER+'s non-classes: a model may output them, a face is never labelled with them
NON_CLASSES: tuple[str, ...] = ("unknown", "not a face")
#: every class name ferviz knows, in index order
NAMES: tuple[str, ...] = EXPRESSIONS + NON_CLASSES
SPLITS: tuple[str, ...] = ("Training", "PublicTest", "PrivateTest")

ALIASES: dict[str, str] = {
    "anger": "angry", "angry": "angry",
    "disgust": "disgust", "disgusted": "disgust", "disgusting": "disgust",
    "fear": "fear", "fearful": "fear", "scared": "fear", "afraid": "fear",
    "happy": "happy", "happiness": "happy",
    "sad": "sad", "sadness": "sad",
    "surprise": "surprise", "surprised": "surprise",
    "neutral": "neutral", "calm": "neutral",
    "contempt": "contempt", "contemptuous": "contempt",
    "unknown": "unknown",
    "not a face": "not a face", "notaface": "not a face", "nf": "not a face", "non-face": "not a face",
    "nonface": "not a face", "no face": "not a face",
}


def _key(name: str) -> str:
    k = " ".join(str(name).strip().lower().replace("_", " ").replace("-", " ").split())
    return k if k in ALIASES else k.replace(" ", "")


def known_names() -> str:
    """The class names and their aliases, for refusals."""
    by: dict[str, list[str]] = {n: [] for n in NAMES}
    for alias, n in ALIASES.items():
        if alias != n and alias.replace(" ", "") != n.replace(" ", ""):
            by[n].append(alias)
    return "; ".join(f"{n} ({', '.join(a)})" if a else n for n, a in by.items())


def class_index(name: str | int, *, allowed: Sequence[int] | None = None) -> int:
    """The index in :data:`NAMES` of a class name (any alias, any case) or an index.

    `allowed`: the indices acceptable here (a model's or a dataset's classes); default all."""
    if isinstance(name, int) and not isinstance(name, bool):
        k = int(name)
        if not 0 <= k < len(NAMES):
            raise LabelError(f"class index {name} is outside 0-{len(NAMES) - 1}")
    else:
        key = str(name).strip()
        if key.isdigit():
            return class_index(int(key), allowed=allowed)
        canon = ALIASES.get(_key(key))
        if canon is None:
            raise LabelError(f"unknown emotion {name!r}; known names (aliases): {known_names()}")
        k = NAMES.index(canon)
    if allowed is not None and k not in set(int(a) for a in allowed):
        raise LabelError(f"{NAMES[k]} is not one of the classes here: {', '.join(NAMES[a] for a in sorted(allowed))}")
    return k


def emotion_index(name: str | int) -> int:
    """The class index of a name or index (any class of :data:`NAMES`; see :func:`class_index`)."""
    return class_index(name)


def names_of(indices: Iterable[int]) -> tuple[str, ...]:
    """Class names of indices."""
    return tuple(NAMES[int(i)] for i in indices)


def canonical(names: Iterable[str | int]) -> tuple[str, ...]:
    """Class names (any alias) as a tuple in vocabulary order, each once."""
    return names_of(sorted({class_index(n) for n in names}))


def width(*class_sets: Iterable[str | int]) -> int:
    """How many columns a probability array needs to hold every class of these sets (at least
    FER2013's seven): one past the highest class index."""
    top = max((class_index(c) for s in class_sets for c in s), default=0)
    return max(NUM_CLASSES, top + 1)


def normalise_split(split: str) -> str:
    """Return the canonical split name for e.g. 'privatetest' or 'private'."""
    key = str(split).strip().lower().replace("_", "").replace("-", "")
    for s in SPLITS:
        if key in (s.lower(), s.lower().replace("test", "")):
            return s
    if key in ("train", "training"):
        return "Training"
    raise LabelError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
