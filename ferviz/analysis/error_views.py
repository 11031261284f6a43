"""The error table of a view: one confusion cell's (or all) errors in a sort and a filter, with
the data-quality columns (confident learning's verdict, Training copies, FER+ votes).

The dashboard's gallery and its downloads, and ``python -m ferviz export``, build their tables
and cell sheets here, so a ``..._fear-sad_by-loss_sheet.png`` or ``..._errors.csv`` holds the same
content whichever of them wrote it.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import AnalysisError
from ..labels import NAMES, class_index

LABEL_ISSUE, MODEL_ERROR = "likely label issue", "likely model error"
#: the sorts: the first two are `Evaluation.errors`' own
SORTS = ("confidence", "loss", "label-issue score")
SORT_NOTES = {"confidence": "most confident first", "loss": "highest loss first",
              "label-issue score": "most likely label issue first"}
#: the filters
ALL, ISSUES_ONLY, MODEL_ONLY = "all errors", LABEL_ISSUE, MODEL_ERROR
FILTERS = (ALL, ISSUES_ONLY, MODEL_ONLY)
#: file-name parts of the filters (the "all errors" view adds none)
FILTER_PARTS = {LABEL_ISSUE: "label-issues", MODEL_ERROR: "model-errors"}
#: short names of the sorts and filters, as a link's ``sort=``/``show=`` and the command's
#: ``--sort``/``--show`` spell them
SORT_NAMES = {"confidence": "confidence", "loss": "loss", "label-issue score": "label-issue"}
FILTER_NAMES = {ALL: "all", ISSUES_ONLY: "label-issues", MODEL_ONLY: "model-errors"}
#: extra columns `annotate` adds (and the errors CSV carries)
QUALITY_COLUMNS = ("label_issue_score", "likely_label_issue", "verdict", "issue_rank", "training_copy")
FERPLUS_COLUMNS = ("ferplus_majority", "ferplus_votes", "ferplus_badges")
#: a cell sheet shows at most this many faces unless asked otherwise
SHEET_LIMIT = 100


def annotate(rows: pd.DataFrame, issues=None, copies: pd.DataFrame | None = None, aligned=None) -> pd.DataFrame:
    """Error-table rows with the data-quality columns: label-issue score, flag, verdict and rank
    (confident learning's order over the whole split), the Training-copy badge and, with
    aligned FER+ votes, the FER+ majority, votes and badges. Results come from the core
    (`label_issues`, `duplicates`, `ferplus`); this only looks them up by position and id."""
    from ..data.ferplus import VOTE_CLASSES
    from ..data.ferplus import badges as fp_badges
    from .label_issues import OUTSIDE

    out = rows.copy()
    pos = out["pos"].to_numpy(dtype=np.int64)
    if issues is not None:
        rank = np.empty(issues.n, np.int64)
        rank[issues.order] = np.arange(issues.n)
        flagged = issues.flagged[pos]
        scored = out["scored"].to_numpy(bool) if "scored" in out.columns else issues.in_scope[pos]
        wrong = (out["true"] != out["pred"]).to_numpy() & scored
        out["label_issue_score"] = issues.score[pos].astype(np.float64)
        out["likely_label_issue"] = flagged
        out["verdict"] = np.where(flagged, LABEL_ISSUE, np.where(wrong, MODEL_ERROR, np.where(scored, "", OUTSIDE)))
        out["issue_rank"] = rank[pos] + 1
    else:
        out["label_issue_score"], out["likely_label_issue"] = np.nan, False
        out["verdict"], out["issue_rank"] = "", 0
    badge = copies["badge"] if copies is not None and len(copies) else pd.Series(dtype=object)
    out["training_copy"] = out["id"].astype(str).map(badge).fillna("").astype(str)
    if aligned is not None:
        where = {str(k): i for i, k in enumerate(aligned.ids)}
        idx = np.array([where.get(str(i), -1) for i in out["id"]], np.int64)
        true = [class_index(t) for t in out["true"]]
        pred = [class_index(p) for p in out["pred"]]
        names = np.array(VOTE_CLASSES, dtype=object)
        tie = getattr(aligned, "tied", np.zeros(len(aligned), bool))  # a tie has no majority
        out["ferplus_majority"] = ["" if k < 0 else "(tie)" if tie[k] else names[aligned.majority[k]] for k in idx]
        out["ferplus_votes"] = [vote_text(aligned.votes[k]) if k >= 0 else "" for k in idx]
        out["ferplus_badges"] = [" | ".join(fp_badges(aligned.votes[k], t, p, named=bool(aligned.named[k])))
                                 if k >= 0 else "" for k, t, p in zip(idx, true, pred)]
    return out


def vote_text(votes: np.ndarray) -> str:
    """'happy 6 · neutral 3 · surprise 1': the non-zero FER+ votes, most first (NF: not a face)."""
    from ..data.ferplus import VOTE_CLASSES

    v = np.asarray(votes)
    order = np.argsort(-v, kind="stable")
    name = {"NF": "not a face"}
    return " · ".join(f"{name.get(VOTE_CLASSES[j], VOTE_CLASSES[j])} {int(v[j])}" for j in order if v[j] > 0)


def arrange(rows: pd.DataFrame, sort: str, show: str = ALL) -> pd.DataFrame:
    """Annotated rows in the gallery's order and filter. `rows` come from `Evaluation.errors`
    sorted by confidence or loss; "label-issue score" re-sorts them by confident learning's
    ranking over the split (lowest self-confidence first, ties in split order)."""
    if sort == "label-issue score":
        rows = rows.sort_values("issue_rank", kind="stable")
    if show == ISSUES_ONLY:
        rows = rows[rows["verdict"] == LABEL_ISSUE]
    elif show == MODEL_ONLY:
        rows = rows[rows["verdict"] == MODEL_ERROR]
    return rows.reset_index(drop=True)


def sort_named(name: str) -> str:
    """The sort a short name (or the sort's own name) stands for; AnalysisError when none."""
    return _named(name, SORT_NAMES, "sort")


def filter_named(name: str) -> str:
    """The filter a short name (or the filter's own name) stands for; AnalysisError when none."""
    return _named(name, FILTER_NAMES, "show")


def _named(name: str, names: dict[str, str], what: str) -> str:
    key = str(name).strip().lower()
    for value, short in names.items():
        if key in (value, short):
            return value
    raise AnalysisError(f"{what} must be one of {', '.join(names.values())}, got {name!r}")


def name_parts(sort: str, show: str = ALL) -> list[str]:
    """File-name parts of a view: the sort (none for confidence) and the filter (none for all)."""
    return ([] if sort == "confidence" else [f"by-{sort.replace(' ', '-')}"]) + \
        ([FILTER_PARTS[show]] if show in FILTER_PARTS else [])


def view_note(sort: str, show: str = ALL) -> str:
    """The sheet header's words for a view: 'most confident first' (+ 'likely label issues only')."""
    return SORT_NOTES[sort] + ("" if show == ALL else f"; {show}s only")


def view_title(true: int | None, pred: int | None, model_classes=None) -> str:
    """What a gallery of errors holds, in Markdown: a cell, a row, a column, all errors or a
    diagonal cell (correct faces). `model_classes`: the classes the model can output; a true class
    outside them is said to be counted apart."""
    t = NAMES[true] if true is not None else None
    p = NAMES[pred] if pred is not None else None
    if t is not None and model_classes is not None and true not in {int(c) for c in model_classes}:
        where = f" predicted **{p}**" if p is not None else ""
        return f"true **{t}**{where}: a class the model cannot output (counted apart, not errors)"
    if t is not None and t == p:
        return f"correct **{t}** (the diagonal cell), least confident last"
    if t is not None and p is not None:
        return f"true **{t}** → predicted **{p}**"
    if t is not None:
        return f"true **{t}**, any wrong prediction"
    return f"predicted **{p}**, wrongly" if p is not None else "all errors"


def error_view(evaluation, true: int | None, pred: int | None, *, sort: str = "confidence", show: str = ALL,
               issues=None, copies: pd.DataFrame | None = None, aligned=None) -> pd.DataFrame:
    """The annotated rows of a cell (or row, column, all errors) in a sort and filter."""
    if sort not in SORTS:
        raise AnalysisError(f"sort must be one of {', '.join(SORTS)}, got {sort!r}")
    if show not in FILTERS:
        raise AnalysisError(f"show must be one of {', '.join(FILTERS)}, got {show!r}")
    if issues is None and (sort == "label-issue score" or show != ALL):
        raise AnalysisError(f"sorting or filtering by label issues needs label-issue scores ({sort}, {show})")
    rows = evaluation.errors(true, pred, sort="loss" if sort == "loss" else "confidence")
    return arrange(annotate(rows, issues, copies, aligned), sort, show)


def errors_table(rows: pd.DataFrame, true: int | None, pred: int | None) -> pd.DataFrame:
    """The columns the errors CSV carries for annotated rows: the export columns, `correct` for a
    diagonal cell, then the quality (and FER+) columns present."""
    from ..export.tables import ERROR_COLUMNS

    cols = list(ERROR_COLUMNS) + (["correct"] if true is not None and true == pred else [])
    cols += [c for c in (*QUALITY_COLUMNS, *FERPLUS_COLUMNS) if c in rows.columns]
    return rows[cols]


def errors_table_csv(rows: pd.DataFrame, true: int | None, pred: int | None, limit: int | None = None) -> bytes:
    table = errors_table(rows, true, pred)
    return (table.head(limit) if limit else table).to_csv(index=False, lineterminator="\n").encode("utf-8")


def view_sheet(images: np.ndarray, probs: np.ndarray, rows: pd.DataFrame, true: int, pred: int, *,
               model_name: str = "", split: str = "", sort: str = "confidence", show: str = ALL,
               limit: int | None = SHEET_LIMIT, overlays: np.ndarray | None = None, method: str | None = None,
               cols: int = 10, **style):
    """The cell sheet of a view: the first `limit` rows' faces (`images`/`probs` are the split's,
    indexed by the rows' `pos`; `overlays` are already those rows' maps)."""
    from ..export.sheets import cell_sheet

    pos = rows["pos"].to_numpy()[:limit]
    return cell_sheet(images[pos], probs[pos], list(rows["id"].astype(str))[:len(pos)], true=true, pred=pred,
                      model_name=model_name, split=split, total=len(rows), limit=limit,
                      overlays=None if overlays is None else overlays[:len(pos)], method=method,
                      note=view_note(sort, show), cols=cols, **style)
