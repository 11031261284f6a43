"""Attributes of every face, the vocabulary in which failure slices are described.

Three kinds, each documented in :data:`ATTRIBUTES` with its formula and unit (the app's help
shows the same text):

- **from the pixels** (the 48x48 grey face as the dataset stores it): brightness, contrast,
  sharpness;
- **from the five landmarks** (:mod:`ferviz.data.landmarks`): head roll, a yaw proxy, face
  scale and centre offset, with ``template`` = 1 where ONet found no face and the typical
  FER2013 landmarks stand in (their geometry is then the template's, not the face's);
- **data facts** ferviz already knows: a copy of a Training image, flagged as a likely label
  issue by the model's confident learning, and, where FER+'s votes align with the split,
  FER+'s not-a-face votes and the entropy of its ten votes (ambiguity).

Pixel and landmark attributes depend only on the images: they are cached on disk by the split's
data hash (:func:`image_attributes`). The data facts are cheap and added per model
(:func:`face_attributes`). Every value is finite: a column that cannot be known for a split
(FER+ votes that do not align) is left out, not filled with NaN.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .. import cache
from ..errors import AnalysisError

_VERSION = "1"


@dataclass(frozen=True)
class Attribute:
    """One attribute: its column, how it reads, its formula and unit, and how slices treat it.

    ``kind`` is ``number`` or ``flag`` (0/1). ``fold``: slices use the absolute value (a head
    tilted left fails like one tilted right). ``low``/``high``: words for small and large values
    ("darker"/"brighter"). ``natural``/``natural_op``: a threshold with a meaning of its own (on
    the folded value), sliced besides the quantile bins. ``landmark``: only meaningful where
    landmarks were detected (slices on it leave the template faces out). ``circular``: defined by
    the model's own errors (confident learning flags only misclassified faces), so it describes
    slices and clusters but never defines one.
    """

    name: str
    label: str
    kind: str
    unit: str
    formula: str
    low: str = ""
    high: str = ""
    fold: bool = False
    natural: float | None = None
    natural_op: str = ">"
    natural_text: str = ""
    landmark: bool = False
    circular: bool = False
    negation: str = ""  # a flag's label when it is 0 ("landmarks found")


ATTRIBUTES: tuple[Attribute, ...] = (
    Attribute("brightness", "brightness", "number", "grey level 0-255",
              "mean grey level of the face's pixels", "darker", "brighter",
              natural=60.0, natural_op="<", natural_text="dim faces (brightness < 60)"),
    Attribute("contrast", "contrast", "number", "grey levels",
              "standard deviation of the grey levels (RMS contrast)", "flatter", "more contrasted"),
    Attribute("sharpness", "sharpness", "number", "grey levels²",
              "variance of the Laplacian (3x3 kernel 0 1 0 / 1 -4 1 / 0 1 0, mirrored edges, as "
              "cv2.Laplacian with ksize=1) of the 48x48 face: low means blurred", "blurrier", "sharper"),
    Attribute("roll", "head roll", "number", "degrees",
              "angle of the line from the left eye to the right eye (as seen in the image), positive "
              "when the right eye is lower", "level", "tilted", fold=True, natural=15.0,
              natural_text="heads tilted more than 15° (|roll| > 15°)", landmark=True),
    Attribute("yaw", "yaw proxy", "number", "eye distances",
              "offset of the nose tip from the eyes' midpoint along the eye line, divided by the eye "
              "distance (0 = frontal; about ±0.5 for a half-profile; positive when the nose points "
              "right in the image)", "frontal", "turned", fold=True, natural=0.25,
              natural_text="heads turned (|yaw proxy| > 0.25 eye distances)", landmark=True),
    Attribute("scale", "face scale", "number", "pixels",
              "distance between the eyes in pixels of the image", "smaller", "larger", landmark=True),
    Attribute("centre_offset", "centre offset", "number", "pixels",
              "distance of the five landmarks' centroid from where the typical FER2013 face puts it "
              "(the template's centroid), in pixels of the image", "centred", "off-centre", natural=4.0,
              natural_text="off-centre faces (centre offset > 4 px)", landmark=True),
    Attribute("template", "landmarks not found", "flag", "0/1",
              "1 where ONet found no plausible face and the typical FER2013 landmarks stand in",
              natural_text="faces whose landmarks were not found", negation="landmarks found"),
    Attribute("training_copy", "copy of a Training image", "flag", "0/1",
              "1 where the image, or a near copy (perceptual hash), is also in Training",
              natural_text="copies of a Training image", negation="not a copy of a Training image"),
    Attribute("label_issue", "likely label issue", "flag", "0/1",
              "1 where confident learning on this model's probabilities flags the given label",
              natural_text="likely label issues", circular=True, negation="not flagged as a label issue"),
    Attribute("ferplus_not_face", "FER+ not-a-face votes", "number", "votes of 10",
              "how many of FER+'s ten annotators said the image is not a face", "", "more not-a-face votes",
              natural=0.5, natural_text="faces with a FER+ not-a-face vote"),
    Attribute("vote_entropy", "FER+ vote entropy", "number", "bits",
              "Shannon entropy of FER+'s ten votes over its ten answers (0 = unanimous; high = ambiguous)",
              "clearer", "more ambiguous", natural=1.5, natural_text="ambiguous faces (FER+ vote entropy > 1.5 bits)"),
)
BY_NAME = {a.name: a for a in ATTRIBUTES}
IMAGE_COLUMNS = ("brightness", "contrast", "sharpness", "roll", "yaw", "scale", "centre_offset", "template")

_LAPLACE = np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], np.float64)


def _grey(images: np.ndarray) -> np.ndarray:
    x = np.asarray(images)
    if x.ndim == 4:
        x = x[..., :3].mean(axis=-1) if x.shape[-1] >= 3 else x[..., 0]
    if x.ndim != 3:
        raise AnalysisError(f"expected faces shaped (N, H, W) or (N, H, W, C), got {np.asarray(images).shape}")
    return x.astype(np.float64)


def pixel_attributes(images: np.ndarray) -> pd.DataFrame:
    """brightness, contrast and sharpness of each face (see :data:`ATTRIBUTES`)."""
    from scipy.ndimage import convolve

    x = _grey(images)
    out = {"brightness": x.mean(axis=(1, 2)), "contrast": x.std(axis=(1, 2))}
    sharp = np.empty(len(x))
    for s in range(0, len(x), 4096):  # bounded memory on large splits
        lap = convolve(x[s:s + 4096], _LAPLACE[None], mode="mirror")
        sharp[s:s + 4096] = lap.var(axis=(1, 2))
    out["sharpness"] = sharp
    return pd.DataFrame(out)


def landmark_attributes(points: np.ndarray, detected: np.ndarray, width: int, height: int) -> pd.DataFrame:
    """roll, yaw, scale, centre_offset and template from (N, 5, 2) landmark fractions."""
    from ..data.landmarks import TEMPLATE

    p = np.asarray(points, np.float64) * np.array([width, height], np.float64)
    le, re, nose = p[:, 0], p[:, 1], p[:, 2]
    eye = re - le
    dist = np.maximum(np.linalg.norm(eye, axis=1), 1e-6)
    roll = np.degrees(np.arctan2(eye[:, 1], eye[:, 0]))
    along = ((nose - (le + re) / 2) * eye).sum(axis=1) / dist  # the nose's offset along the eye line
    centre = TEMPLATE.astype(np.float64).mean(axis=0) * np.array([width, height])
    return pd.DataFrame({"roll": roll, "yaw": along / dist, "scale": dist,
                         "centre_offset": np.linalg.norm(p.mean(axis=1) - centre, axis=1),
                         "template": (~np.asarray(detected, bool)).astype(np.int8)})


def attributes_cache_path(data_hash: str):
    """Where :func:`image_attributes` keeps a split's attributes."""
    from .. import config

    return config.cache_dir() / "attributes" / f"{cache.key_hash(data_hash, _VERSION)}.npz"


def image_attributes(images: np.ndarray, data_hash: str | None = None, *, landmarks=None,
                     use_cache: bool = True) -> pd.DataFrame:
    """Pixel and landmark attributes of every face, cached on disk by `data_hash` (when given).
    `landmarks` (a :class:`ferviz.data.landmarks.Landmarks`) skips finding them."""
    from ..data.landmarks import cached_landmarks, detect_landmarks

    path = attributes_cache_path(data_hash) if data_hash else None
    if path is not None and use_cache and landmarks is None:
        hit = cache.load_arrays(path)
        if hit is not None and all(c in hit for c in IMAGE_COLUMNS) and len(hit["brightness"]) == len(images):
            return pd.DataFrame({c: hit[c] for c in IMAGE_COLUMNS})
    if landmarks is None:
        landmarks = cached_landmarks(images, data_hash, use_cache=use_cache) if data_hash else detect_landmarks(images)
    h, w = np.asarray(images).shape[1:3]
    df = pd.concat([pixel_attributes(images), landmark_attributes(landmarks.points, landmarks.detected, w, h)], axis=1)
    df = df[list(IMAGE_COLUMNS)]
    if path is not None:
        cache.save_arrays(path, **{c: df[c].to_numpy() for c in IMAGE_COLUMNS})
    return df


def vote_entropy(votes: np.ndarray) -> np.ndarray:
    """Shannon entropy (bits) of each row of vote counts; 0 for a row without votes."""
    from scipy.stats import entropy

    v = np.asarray(votes, np.float64)
    total = v.sum(axis=1, keepdims=True)
    out = entropy(np.where(total > 0, v, 1.0), base=2, axis=1)
    return np.where(total[:, 0] > 0, out, 0.0)


def face_attributes(split, *, issues=None, copies: pd.DataFrame | None = None, aligned=None,
                    base: pd.DataFrame | None = None, use_cache: bool = True) -> pd.DataFrame:
    """Every attribute of every face of `split`: ``id`` then one column per attribute.

    `base`: :func:`image_attributes` of the split when already at hand. `issues`: the model's
    :class:`~ferviz.analysis.label_issues.LabelIssues` (adds ``label_issue``); `copies`: the
    split's Training copies (:func:`ferviz.data.duplicates.training_duplicates`, adds
    ``training_copy``); `aligned`: FER+'s :class:`~ferviz.data.ferplus.AlignedVotes` (adds
    ``ferplus_not_face`` and ``vote_entropy``). Each is left out when None.
    """
    df = base.copy() if base is not None else image_attributes(split.images, split.data_hash, use_cache=use_cache)
    if len(df) != len(split):
        raise AnalysisError(f"attributes of {len(df)} faces for a split of {len(split)}")
    df.insert(0, "id", np.asarray(split.ids).astype(str))
    if copies is not None:
        df["training_copy"] = df["id"].isin(set(copies.index.astype(str))).astype(np.int8)
    if issues is not None:
        if len(issues.flagged) != len(split):
            raise AnalysisError("label issues of another split")
        df["label_issue"] = np.asarray(issues.flagged).astype(np.int8)
    if aligned is not None and len(aligned) == len(split):
        from ..data.ferplus import NF

        df["ferplus_not_face"] = aligned.votes[:, NF].astype(np.int64)
        df["vote_entropy"] = vote_entropy(aligned.votes)
    return df.reset_index(drop=True)


def describe(name: str) -> str:
    """'brightness (grey level 0-255): mean grey level of the face's pixels' for the app's help."""
    a = BY_NAME[name]
    return f"{a.label} ({a.unit}): {a.formula}"


def help_text(columns) -> str:
    """Markdown list of the attributes among `columns`, each with its unit and formula."""
    return "\n".join(f"- **{BY_NAME[c].label}** ({BY_NAME[c].unit}): {BY_NAME[c].formula}"
                     for c in columns if c in BY_NAME)
