"""Exact and near duplicate images across FER2013's splits, and test metrics without them.

*Exact* duplicates have identical decoded pixels. *Near* duplicates are the same photo with
another crop, brightness, contrast or compression: their 64-bit perceptual hashes
(``imagehash.phash``) differ in at most ``NEAR_DISTANCE`` bits, and their pixels are not
identical. Pairs are searched across all splits and within each split.

Threshold: ``NEAR_DISTANCE = 6``. On FER2013 (35,887 images) pHash distances between
different images are always even (each hash has 32 set bits), and the pairs per distance are
0: 219 (not exact), 2: 647, 4: 1,151, 6: 1,682, 8: 3,756, 10: 17,708. Contact sheets of
randomly drawn pairs, looked at by eye (same photo or not), gave: d=0 20/20, d=2 20/20,
d=4 19/20, d=6 33/40, d=8 17/40, d=10 about 1/20 the same photo. So at distance <= 6 an
estimated 90% of the near pairs are the same photo (92 of 100 pairs looked at; weighted by
the pair counts per distance, 90.5%), while at 8 more than half are different faces that
merely share pose and lighting.
"""
from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Callable, Mapping

import numpy as np
import pandas as pd

from .. import cache, config
from ..errors import DataError
from ..labels import NAMES, SPLITS

if TYPE_CHECKING:
    from ..analysis.evaluation import Evaluation
    from .splits import FERSplit

NEAR_DISTANCE = 6
COLUMNS = ("id", "split", "label", "duplicate_id", "duplicate_split", "duplicate_label", "kind")
_VERSION = "1"
_RANK = {s: i for i, s in enumerate(SPLITS)}  # Training 0, PublicTest 1, PrivateTest 2
Progress = Callable[[float, str], None]


def phashes(images: np.ndarray) -> np.ndarray:
    """64-bit perceptual hashes (``imagehash.phash``) of uint8 faces (N, H, W), as uint64."""
    import imagehash
    from PIL import Image

    bits = np.empty((len(images), 64), bool)
    for k, img in enumerate(images):
        bits[k] = imagehash.phash(Image.fromarray(np.asarray(img, np.uint8))).hash.ravel()
    return np.packbits(bits, axis=1).view(">u8").ravel().astype(np.uint64)


def hamming_pairs(hashes: np.ndarray, max_distance: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All pairs i < j whose 64-bit hashes differ in at most `max_distance` bits: (i, j, distance).

    Up to 7 bits: multi-index search (split the bits into max_distance + 1 blocks; a pair that
    close agrees exactly on at least one block, so only pairs sharing a block value are
    compared). Beyond that: brute force over the upper triangle in row blocks (XOR, popcount).
    """
    h = np.ascontiguousarray(hashes, dtype=np.uint64)
    if max_distance + 1 <= 8:
        i, j = _multi_index_candidates(h, max_distance + 1)
    else:
        i, j = _brute_candidates(h, max_distance)
    d = np.bitwise_count(h[i] ^ h[j]).astype(np.int64)
    keep = d <= max_distance
    return i[keep], j[keep], d[keep]


def _multi_index_candidates(h: np.ndarray, blocks: int) -> tuple[np.ndarray, np.ndarray]:
    bounds = np.linspace(0, 64, blocks + 1).astype(int)
    found = []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        key = (h >> np.uint64(lo)) & np.uint64((1 << (hi - lo)) - 1)
        order = np.argsort(key, kind="stable")
        k = key[order]
        starts = np.flatnonzero(np.r_[True, k[1:] != k[:-1]])
        sizes = np.diff(np.r_[starts, len(k)])
        for s, c in zip(starts[sizes > 1], sizes[sizes > 1]):
            a, b = np.triu_indices(c, 1)
            i, j = order[s + a], order[s + b]
            close = np.bitwise_count(h[i] ^ h[j]) <= blocks - 1
            found.append(np.minimum(i, j)[close] * len(h) + np.maximum(i, j)[close])
    if not found:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    code = np.unique(np.concatenate(found))
    return code // len(h), code % len(h)


def _brute_candidates(h: np.ndarray, max_distance: int) -> tuple[np.ndarray, np.ndarray]:
    n = len(h)
    chunk = max(1, (1 << 23) // max(1, n))
    out_i, out_j = [np.empty(0, np.int64)], [np.empty(0, np.int64)]
    for a in range(0, n, chunk):
        d = np.bitwise_count(h[a:a + chunk, None] ^ h[None, a:])
        ii, jj = np.nonzero(d <= max_distance)
        keep = jj > ii  # the block's own rows start at column 0: keep the upper triangle
        out_i.append(ii[keep] + a)
        out_j.append(jj[keep] + a)
    return np.concatenate(out_i).astype(np.int64), np.concatenate(out_j).astype(np.int64)


def exact_groups(images: np.ndarray) -> np.ndarray:
    """A group number per image; images with identical pixels share it."""
    flat = np.ascontiguousarray(np.asarray(images, np.uint8).reshape(len(images), -1))
    rows = flat.view(np.dtype((np.void, flat.shape[1]))).ravel()
    return np.unique(rows, return_inverse=True)[1].ravel()


def _exact_pairs(groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(groups, kind="stable")
    g = groups[order]
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    sizes = np.diff(np.r_[starts, len(g)])
    ii, jj = [], []
    for s, k in zip(starts[sizes > 1], sizes[sizes > 1]):
        a, b = np.triu_indices(k, 1)
        ii.append(order[s + a])
        jj.append(order[s + b])
    if not ii:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    return np.concatenate(ii), np.concatenate(jj)


def find_duplicates(splits: Mapping[str, "FERSplit"], *, max_distance: int = NEAR_DISTANCE,
                    use_cache: bool = True, progress: Progress | None = None) -> pd.DataFrame:
    """Exact and near duplicate pairs among all images of `splits` (split name -> FERSplit).

    One row per pair, columns ``COLUMNS``; labels are emotion names; ``kind`` is ``exact`` or
    ``near`` (near pairs exclude exact ones). The image of the later split (PrivateTest, then
    PublicTest, then Training) comes first; within a split the smaller id. Cached on disk,
    keyed by every split's data hash and `max_distance`.
    """
    if not 0 <= int(max_distance) <= 64:
        raise DataError(f"max_distance must lie in 0-64, got {max_distance}")
    parts = [splits[s] for s in SPLITS if s in splits]
    key = cache.key_hash("duplicates", _VERSION, [(p.split, p.data_hash) for p in parts], int(max_distance))
    path = config.cache_dir() / "duplicates" / f"pairs-{key}.csv"
    if use_cache and path.is_file():
        try:
            df = pd.read_csv(path, dtype=str, keep_default_na=False)
            if tuple(df.columns) == COLUMNS:
                return df
        except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError):
            pass
    df = _compute(parts, int(max_distance), use_cache, progress)
    cache.atomic_write_bytes(path, df.to_csv(index=False).encode())
    return df


def _compute(parts, max_distance: int, use_cache: bool, progress: Progress | None) -> pd.DataFrame:
    if not parts:
        return pd.DataFrame(columns=list(COLUMNS))
    images = np.concatenate([p.images for p in parts])
    ids = np.concatenate([np.asarray(p.ids, str) for p in parts])
    split = np.concatenate([np.full(len(p), p.split) for p in parts])
    labels = np.array(NAMES)[np.concatenate([p.labels for p in parts])]
    if progress:
        progress(0.0, f"hashing {len(images):,} images")
    hashes = _cached_hashes(parts, images, use_cache)
    if progress:
        progress(0.6, "comparing hashes")
    groups = exact_groups(images)
    ei, ej = _exact_pairs(groups)
    ni, nj, _ = hamming_pairs(hashes, max_distance)
    near = groups[ni] != groups[nj]
    i = np.r_[ei, ni[near]]
    j = np.r_[ej, nj[near]]
    kind = np.r_[np.full(len(ei), "exact"), np.full(int(near.sum()), "near")]
    # orient: the later split first, then the smaller id
    rank = np.concatenate([np.full(len(p), _RANK[p.split]) for p in parts])
    swap = (rank[j] > rank[i]) | ((rank[j] == rank[i]) & (ids[j] < ids[i]))
    i, j = np.where(swap, j, i), np.where(swap, i, j)
    df = pd.DataFrame({"id": ids[i], "split": split[i], "label": labels[i], "duplicate_id": ids[j],
                       "duplicate_split": split[j], "duplicate_label": labels[j], "kind": kind})
    df["_r"] = -rank[i]
    df["_k"] = df["kind"] != "exact"
    df = df.sort_values(["_k", "_r", "id", "duplicate_split", "duplicate_id"], kind="stable")
    if progress:
        progress(1.0, f"{len(df):,} pairs")
    return df[list(COLUMNS)].reset_index(drop=True)


def _cached_hashes(parts, images: np.ndarray, use_cache: bool) -> np.ndarray:
    key = cache.key_hash("phash", _VERSION, [(p.split, p.data_hash) for p in parts])
    path = config.cache_dir() / "duplicates" / f"phash-{key}.npz"
    got = cache.load_arrays(path) if use_cache else None
    if got is not None and got["hashes"].shape == (len(images),):
        return got["hashes"]
    hashes = phashes(images)
    cache.save_arrays(path, hashes=hashes)
    return hashes


def training_duplicates(pairs: pd.DataFrame, split: str) -> pd.DataFrame:
    """For the images of `split` that have an exact or near copy in Training, what that copy is.

    Index: image id (images without a Training copy are absent). Columns: ``label``;
    ``exact_ids``/``exact_labels`` and ``near_ids``/``near_labels`` (the Training copies' ids
    and emotion names, comma-separated, empty when none); ``kind`` (``exact`` when any copy is
    exact, else ``near``); ``other_label`` (a copy of that kind carries another label); and
    ``badge`` (e.g. "also in Training as happy" or "near copy in Training as sad").
    """
    cols = ["label", "exact_ids", "exact_labels", "near_ids", "near_labels", "kind", "other_label", "badge"]
    a = pairs[["id", "split", "label", "duplicate_id", "duplicate_split", "duplicate_label", "kind"]]
    b = a.rename(columns={"id": "duplicate_id", "split": "duplicate_split", "label": "duplicate_label",
                          "duplicate_id": "id", "duplicate_split": "split", "duplicate_label": "label"})
    both = pd.concat([a, b[a.columns]], ignore_index=True)
    both = both[(both["split"] == split) & (both["duplicate_split"] == "Training")]
    if both.empty:
        return pd.DataFrame(columns=cols, index=pd.Index([], name="id", dtype=str))
    rows = {}
    for image_id, g in both.groupby("id", sort=True):
        info = {"label": g["label"].iloc[0]}
        for k in ("exact", "near"):
            gk = g[g["kind"] == k]
            info[f"{k}_ids"] = ", ".join(sorted(gk["duplicate_id"]))
            info[f"{k}_labels"] = ", ".join(sorted(set(gk["duplicate_label"])))
        kind = "exact" if info["exact_ids"] else "near"
        copy_labels = info[f"{kind}_labels"].split(", ")
        info["kind"] = kind
        info["other_label"] = any(lab != info["label"] for lab in copy_labels)
        info["badge"] = ("also in Training as " if kind == "exact" else "near copy in Training as ") \
            + " and ".join(copy_labels)
        rows[image_id] = info
    out = pd.DataFrame.from_dict(rows, orient="index")[cols]
    out.index.name = "id"
    return out


def leakage_metrics(evaluation: "Evaluation", pairs: pd.DataFrame) -> dict:
    """Accuracy and macro-F1 of an Evaluation without the images that have a copy in Training.

    Keys: ``accuracy_excluding_training_duplicates``, ``macro_f1_excluding_training_duplicates``
    and ``n_training_duplicates`` (images with an exact copy in Training, all left out); then
    ``accuracy_excluding_training_near_duplicates``, ``macro_f1_excluding_training_near_duplicates``
    and ``n_training_near_duplicates``, where the images left out (and counted) are those with
    an exact *or* a near copy in Training. Empty for the Training split itself. A metric over
    no images is None.
    """
    if evaluation.split == "Training":
        return {}
    td = training_duplicates(pairs, evaluation.split)
    ids = np.asarray(evaluation.ids, str)
    exact = np.isin(ids, td.index[td["kind"] == "exact"].astype(str))
    any_copy = np.isin(ids, td.index.astype(str))
    out = {}
    for suffix, drop in (("duplicates", exact), ("near_duplicates", any_copy)):
        keep = ~drop
        sub = dataclasses.replace(evaluation, probs=evaluation.probs[keep], labels=evaluation.labels[keep],
                                  ids=evaluation.ids[keep])
        out[f"accuracy_excluding_training_{suffix}"] = sub.accuracy if keep.any() else None
        out[f"macro_f1_excluding_training_{suffix}"] = sub.macro_f1 if keep.any() else None
        out[f"n_training_{suffix}"] = int(drop.sum())
    return out


def split_summary(pairs: pd.DataFrame, splits: Mapping[str, "FERSplit"]) -> pd.DataFrame:
    """Per test split: images, those with an exact copy in Training (and of those, with another
    label), those with only a near copy in Training (and with another label)."""
    rows = []
    for s in SPLITS:
        if s == "Training" or s not in splits:
            continue
        td = training_duplicates(pairs, s)
        ex, nr = td[td["kind"] == "exact"], td[td["kind"] == "near"]
        rows.append({"split": s, "images": len(splits[s]), "exact": len(ex),
                     "exact_other_label": int(ex["other_label"].sum()), "near": len(nr),
                     "near_other_label": int(nr["other_label"].sum())})
    return pd.DataFrame(rows, columns=["split", "images", "exact", "exact_other_label", "near",
                                       "near_other_label"])



def describe_leakage(metrics: Mapping[str, object]) -> str:
    """One line for the keys of `leakage_metrics` (e.g. in a metrics dict)."""
    def fmt(v):
        return "n/a" if v is None else f"{v:.4f}"

    m = metrics
    return (f"excluding the {m['n_training_duplicates']} images with an exact copy in Training: accuracy "
            f"{fmt(m['accuracy_excluding_training_duplicates'])}, macro-F1 "
            f"{fmt(m['macro_f1_excluding_training_duplicates'])}; excluding the "
            f"{m['n_training_near_duplicates']} with an exact or near copy: accuracy "
            f"{fmt(m['accuracy_excluding_training_near_duplicates'])}, macro-F1 "
            f"{fmt(m['macro_f1_excluding_training_near_duplicates'])}")
