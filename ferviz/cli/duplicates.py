"""``python -m ferviz duplicates``: exact and near duplicate images across FER2013's splits.

Writes ``DIR/duplicates.csv`` (one row per pair: id, split, label, duplicate_id,
duplicate_split, duplicate_label, kind) and prints, per test split, how many of its images
are exact or near copies of a Training image and how many of those carry another label.
"""
from __future__ import annotations

import time
from pathlib import Path

from . import args as A

NEAR_DISTANCE = 6  # literal copy of ferviz.data.duplicates.NEAR_DISTANCE (that module imports pandas)


def add_arguments(p) -> None:
    A.add_data(p)
    A.add_out(p, "output folder for duplicates.csv")
    p.add_argument("--max-distance", type=A.int_range(0, 64), default=NEAR_DISTANCE,
                   help=f"pHash bits two near duplicates may differ in, 0-64 (default {NEAR_DISTANCE})")
    p.add_argument("--no-cache", action="store_true", help="recompute the pairs")


def run(a) -> int:
    from ..data.duplicates import find_duplicates, split_summary
    from .common import load_splits, progress

    splits = load_splits(a)
    t = time.perf_counter()
    with progress("duplicates") as update:
        pairs = find_duplicates(splits, max_distance=a.max_distance, use_cache=not a.no_cache,
                                progress=update)
    seconds = time.perf_counter() - t
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    pairs.to_csv(out / "duplicates.csv", index=False)
    n_exact = int((pairs["kind"] == "exact").sum())
    print(f"{sum(len(s) for s in splits.values()):,} images: {n_exact:,} exact and "
          f"{len(pairs) - n_exact:,} near pairs (pHash distance <= {a.max_distance}) in {seconds:.1f} s")
    for r in split_summary(pairs, splits).itertuples():
        print(f"{r.split}: {r.exact} of {r.images} images are exact copies of a Training image "
              f"({r.exact_other_label} with another label); {r.near} more are near copies "
              f"({r.near_other_label} with another label)")
    print(f"wrote {out / 'duplicates.csv'}")
    return 0
