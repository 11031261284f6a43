"""Export file names: predictable, sortable, and safe on every file system.

    export_filename("sheet", "baseline_cnn", "PrivateTest", cell=("fear", "sad"), fmt="png")
        -> "baseline_cnn_PrivateTest_fear-sad_sheet.png"
    export_filename("image", "baseline_cnn", "PrivateTest", image_id="PrivateTest_123",
                    method="gradcam", fmt="pdf")
        -> "baseline_cnn_PrivateTest_PrivateTest_123_gradcam.pdf"

Only ``A-Z a-z 0-9 . _ -`` appear; any other run of characters (``/``, spaces, ``:``,
non-ASCII) becomes one ``-``, and no part can start with a dot or be empty.
"""
from __future__ import annotations

import re
from collections.abc import Sequence

from ..labels import NAMES, class_index
from .render import ExportError

KINDS: tuple[str, ...] = ("image", "comparison", "sheet", "confusion", "confusion_normalized",
                          "errors", "per_class", "predictions")
FILE_FORMATS: tuple[str, ...] = ("png", "svg", "pdf", "csv")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
MAX_PART = 80


def safe_part(text: object, what: str = "name") -> str:
    """One file-name component from arbitrary text (ids, model keys, method names)."""
    s = _UNSAFE.sub("-", str(text)).strip("-.")
    s = re.sub(r"-{2,}", "-", s)[:MAX_PART].strip("-.")
    if not s:
        raise ExportError(f"{what} {text!r} has no characters usable in a file name")
    return s


def cell_part(cell: tuple[int | str | None, int | str | None]) -> str:
    """'fear-sad' for (2, 4), ('fear', 'sad') or ('2', 'sad'); 'fear-any' for (2, None);
    'happy-not-a-face' for (3, 9)."""
    try:
        t, p = cell
    except (TypeError, ValueError):
        raise ExportError(f"cell must be a (true, pred) pair, got {cell!r}") from None
    if t is None and p is None:
        raise ExportError("cell needs a true or a predicted class")
    try:
        return "-".join("any" if c is None else safe_part(NAMES[class_index(c)]) for c in (t, p))
    except ValueError as e:
        raise ExportError(f"cell: {e}") from None


def export_filename(kind: str, model_key: str, split: str, *,
                    cell: tuple[int | str, int | str] | None = None, image_id: str | None = None,
                    method: str | Sequence[str] | None = None, extra: Sequence[str] = (),
                    fmt: str) -> str:
    """The file name for one export (see the module docstring for the pattern).

    `extra` parts tell apart exports of the same view made differently (``vs-<model2>``,
    ``target-true``, ``by-loss``), so one never overwrites another."""
    if kind not in KINDS:
        raise ExportError(f"unknown export kind {kind!r}; expected one of {', '.join(KINDS)}")
    f = str(fmt).lower().lstrip(".")
    if f not in FILE_FORMATS:
        raise ExportError(f"unknown file format {fmt!r}; expected one of {', '.join(FILE_FORMATS)}")
    table = kind in ("errors", "per_class", "predictions")
    if table != (f == "csv"):
        raise ExportError(f"a {kind} export is {'csv' if table else 'png, svg or pdf'}, not {fmt!r}")
    if kind in ("image", "comparison") and image_id is None:
        raise ExportError(f"a {kind} export needs image_id")
    if kind == "sheet" and (cell is None or None in tuple(cell)):
        raise ExportError("a sheet export needs cell=(true, pred)")
    parts = [safe_part(model_key, "model key"), safe_part(split, "split")]
    if cell is not None:
        parts.append(cell_part(cell))
    if image_id is not None:
        parts.append(safe_part(image_id, "image id"))
    if method:
        methods = [method] if isinstance(method, str) else list(method)
        parts.append("-".join(safe_part(m, "method") for m in methods))
    parts.extend(safe_part(e, "name part") for e in extra)
    if kind not in ("image",):
        parts.append(kind)
    return "_".join(parts) + "." + f
