"""CSV exports of an Evaluation: per-class metrics, the error table, all predictions.

Floats are written at the shortest precision that reads back to the same value of their
dtype (float32 probabilities stay float32-exact), so ``pd.read_csv`` with
``dtype={"id": str}`` and float32 for probability columns recovers the same table.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..analysis.evaluation import Evaluation
from ..labels import class_index
from .render import ExportError

#: columns of errors_csv, in order ("correct" only with include_correct)
ERROR_COLUMNS: tuple[str, ...] = ("id", "true", "pred", "confidence", "p_true", "loss", "top1", "top1_p",
                                  "top2", "top2_p", "top3", "top3_p")


def _csv(df: pd.DataFrame) -> bytes:
    return df.to_csv(index=False, lineterminator="\n").encode("utf-8")


def per_class_csv(evaluation: Evaluation) -> bytes:
    """class, precision, recall, f1, support: one row per class the model can output (by name)."""
    return _csv(evaluation.per_class())


def errors_frame(evaluation: Evaluation, true: int | str | None = None, pred: int | str | None = None,
                 *, sort: str = "confidence", include_correct: bool = False,
                 limit: int | None = None) -> pd.DataFrame:
    """The rows errors_csv writes: Evaluation.errors(...) in its order, export columns only."""
    try:
        t = None if true is None else class_index(true)
        p = None if pred is None else class_index(pred)
    except ValueError as e:
        raise ExportError(str(e)) from None
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ExportError(f"limit must be a positive integer, got {limit!r}")
    df = evaluation.errors(t, p, sort=sort, include_correct=include_correct)
    cols = list(ERROR_COLUMNS) + (["correct"] if include_correct or (t is not None and t == p) else [])
    df = df[cols]
    return df.head(limit) if limit else df


def errors_csv(evaluation: Evaluation, true: int | str | None = None, pred: int | str | None = None,
               *, sort: str = "confidence", include_correct: bool = False,
               limit: int | None = None) -> bytes:
    """The error table (optionally one cell), most confident (or highest loss) first."""
    return _csv(errors_frame(evaluation, true, pred, sort=sort, include_correct=include_correct,
                             limit=limit))


def predictions_csv(evaluation: Evaluation) -> bytes:
    """id, true, pred (class names) and p_<class> for each class the model can output, one row per
    image (a ``scored`` column when some faces' true class is not one of the model's)."""
    return _csv(evaluation.predictions_frame())


def read_errors_csv(data: bytes | str, float_dtype=np.float32) -> pd.DataFrame:
    """Read errors_csv output back (ids as text, floats as `float_dtype`: the probs' dtype)."""
    import io

    buf = io.BytesIO(data if isinstance(data, bytes) else data.encode())
    floats = {c: float_dtype for c in ("confidence", "p_true", "loss", "top1_p", "top2_p", "top3_p")}
    return pd.read_csv(buf, dtype={"id": str, **floats}, keep_default_na=False)
