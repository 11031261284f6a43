"""The error tree: a shallow decision tree on the face attributes that predicts "the model is wrong"
(as in Azure's Error Analysis). Each node is a group of faces with its rule, size and error rate;
the leaves with the highest error rate are where the model fails.

scikit-learn's DecisionTreeClassifier fits it (Gini, at most ``max_depth`` levels, at least
``min_leaf`` faces per leaf); folded attributes (roll, yaw) enter as absolute values, flags as 0/1,
and the landmark attributes of faces whose landmarks were not found as missing values (the tree
sends them down the side that suits them, and the rule says so: "... or landmarks not found").
Faces whose true class the model cannot output (``scored`` False) are neither right nor wrong: the
tree is grown without them and they belong to no node.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import AnalysisError, NotFoundError
from .attributes import BY_NAME
from .slices import MIN_SIZE, column_label, fmt_value, present, slice_values

MAX_DEPTH = 3
TREE_COLUMNS = ("node", "parent", "depth", "rule", "path", "n", "errors", "error_rate", "leaf")


@dataclass(frozen=True)
class ErrorTree:
    """``nodes``: one row per node (root first, depth-first), ``members``: (N, nodes) bool."""

    nodes: pd.DataFrame
    members: np.ndarray = field(repr=False)
    ids: np.ndarray = field(repr=False)
    features: tuple[str, ...] = ()

    def mask(self, node: int) -> np.ndarray:
        if not 0 <= int(node) < self.members.shape[1]:
            raise NotFoundError(f"no node {node} in the error tree (it has {self.members.shape[1]})")
        return self.members[:, int(node)]

    def leaves(self) -> pd.DataFrame:
        """The leaves, highest error rate first."""
        return self.nodes[self.nodes["leaf"]].sort_values(["error_rate", "n"], ascending=False, kind="stable")


def _condition(name: str, threshold: float, left: bool) -> str:
    a = BY_NAME[name]
    if a.kind == "flag":
        return a.negation if left else a.label
    return f"{column_label(a)} {'<' if left else '≥'} {fmt_value(a, threshold)}"


def error_tree(attrs: pd.DataFrame, correct: np.ndarray, *, max_depth: int = MAX_DEPTH,
               min_leaf: int = MIN_SIZE, seed: int = 0, scored: np.ndarray | None = None) -> ErrorTree:
    """Fit the error tree on every attribute of `attrs` (an ``id`` column plus attributes).
    `scored` (bool per face): the faces that count (default all); the others are in no node."""
    from sklearn.tree import DecisionTreeClassifier

    correct = np.asarray(correct, bool)
    if len(correct) != len(attrs):
        raise AnalysisError(f"{len(correct)} answers for {len(attrs)} faces")
    if scored is not None and not np.asarray(scored, bool).all():
        scored = np.asarray(scored, bool)
        if len(scored) != len(attrs):
            raise AnalysisError(f"{len(scored)} scored flags for {len(attrs)} faces")
        sub = error_tree(attrs[scored].reset_index(drop=True), correct[scored], max_depth=max_depth,
                         min_leaf=min_leaf, seed=seed)
        members = np.zeros((len(attrs), sub.members.shape[1]), bool)
        members[scored] = sub.members
        ids = attrs["id"].astype(str).to_numpy() if "id" in attrs.columns else np.arange(len(attrs)).astype(str)
        return ErrorTree(sub.nodes, members, ids, sub.features)
    if max_depth < 1 or min_leaf < 1:
        raise AnalysisError("max_depth and min_leaf must be at least 1")
    cols = [a.name for a in present(attrs)]
    if not cols:
        raise AnalysisError("no attributes to grow an error tree on")
    X = np.column_stack([slice_values(attrs, c) for c in cols])
    if "template" in attrs.columns:  # the template's geometry is not the face's: missing, not a value
        tmpl = attrs["template"].to_numpy() == 1
        for j, c in enumerate(cols):
            if BY_NAME[c].landmark:
                X[tmpl, j] = np.nan
    wrong = ~correct
    ids = attrs["id"].astype(str).to_numpy() if "id" in attrs.columns else np.arange(len(attrs)).astype(str)
    clf = DecisionTreeClassifier(max_depth=max_depth, min_samples_leaf=min_leaf, random_state=seed)
    clf.fit(X, wrong.astype(int))
    t = clf.tree_
    members = clf.decision_path(X).toarray().astype(bool)
    rows = []

    def walk(node: int, parent: int, depth: int, rule: str, path: list[str]) -> None:
        m = members[:, node]
        n, e = int(m.sum()), int((m & wrong).sum())
        leaf = t.children_left[node] == -1
        rows.append((node, parent, depth, rule, " and ".join(path) if path else "all faces", n, e,
                     e / n if n else float("nan"), bool(leaf)))
        if not leaf:
            j = int(t.feature[node])
            name, thr = cols[j], float(t.threshold[node])
            missing = bool(np.isnan(X[m, j]).any())
            # scikit-learn sends x <= threshold left; thresholds sit halfway between observed values,
            # so "< threshold" reads the same. Faces without landmarks go where the tree sent them.
            for child, left in ((t.children_left[node], True), (t.children_right[node], False)):
                cond = _condition(name, thr, left)
                if missing and bool(t.missing_go_to_left[node]) == left:
                    cond = f"({cond} or landmarks not found)"
                walk(int(child), node, depth + 1, cond, path + [cond])

    walk(0, -1, 0, "all faces", [])
    nodes = pd.DataFrame(rows, columns=list(TREE_COLUMNS))
    return ErrorTree(nodes, members, ids, tuple(cols))
