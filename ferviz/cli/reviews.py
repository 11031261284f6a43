"""``python -m ferviz reviews``: the label review's decisions in and out of its database.

    python -m ferviz reviews import decisions.csv --db reviews.sqlite --data data/fer2013.csv
    python -m ferviz reviews export --db reviews.sqlite --out decisions.csv --votes votes.csv

``import`` reads ``id,split,reviewed_label,reviewer`` (optionally ``original_label``, ``timestamp``,
``note``), checks every line against the dataset (whose content hash keys the decisions) and
writes the whole file in one transaction, or nothing with the file and line that is wrong.
``export`` writes each reviewer's current decision per face with ``original_label``,
``timestamp`` and ``note``; ``--votes`` also writes them as a FER+-style vote table (the columns
of FER+'s fer2013new.csv, one vote per reviewer).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from . import args as A


def _db(p) -> None:
    p.add_argument("--db", type=A.non_empty, default=None, metavar="PATH",
                   help="the review database (default: FERVIZ_REVIEWS, else "
                        "$XDG_DATA_HOME/ferviz/reviews.sqlite or ~/.local/share/ferviz/reviews.sqlite)")


def add_arguments(p) -> None:
    sub = p.add_subparsers(dest="action", required=True, metavar="ACTION", parser_class=A.Parser)
    imp = sub.add_parser("import", help="add a decisions CSV to the database (all of it, or nothing)",
                         description="add a decisions CSV (id,split,reviewed_label,reviewer) to the database: "
                                     "every line is checked first, then all are written in one transaction")
    imp.add_argument("file", type=A.existing_file, metavar="FILE", help="the decisions CSV")
    _db(imp)
    A.add_data(imp, "the dataset the decisions are about: its content hash keys them", labels=False)
    exp = sub.add_parser("export", help="write the current decisions as CSV (and a FER+-style vote table)",
                         description="write each reviewer's current decision per face as CSV")
    _db(exp)
    exp.add_argument("--out", required=True, help="the decisions CSV to write")
    exp.add_argument("--votes", metavar="FILE",
                     help="also write a FER+-style vote table (fer2013new.csv's columns, one vote per reviewer)")
    exp.add_argument("--data", help="only the decisions on this dataset (default: the one dataset the database "
                                    "holds decisions on; FERVIZ_DATA or data/ when it holds several)")
    exp.add_argument("--split", type=A.split, default=None, help="only this split (default: every split)")
    exp.add_argument("--reviewer", type=A.non_empty, default=None, help="only this reviewer (default: all)")


def run(a: argparse.Namespace) -> int:
    return _import(a) if a.action == "import" else _export(a)


def _import(a) -> int:
    from ..data.splits import load_all
    from ..review.files import import_file
    from ..review.store import ReviewStore

    store = ReviewStore(a.db)
    splits = load_all(a.data)
    added, skipped = import_file(store, a.file, splits)
    print(f"imported {added} decision{'' if added == 1 else 's'} from {a.file} into {store.path}"
          + (f" ({skipped} already there)" if skipped else ""))
    return 0


def _dataset(a, store) -> str | None:
    """The dataset hash to export: --data's, else the only one in the database, else the default data's."""
    from ..data.splits import load_all

    held = store.datasets()
    if a.data or len(held) > 1:
        return next(iter(load_all(a.data).values())).source_hash
    return next(iter(held), None)


def _export(a) -> int:
    from ..cache import atomic_write_bytes
    from ..errors import ReviewError
    from ..review.files import decisions_csv, vote_table
    from ..review.store import ReviewStore

    store = ReviewStore(a.db)
    if not store.path.exists():
        raise ReviewError(f"{store.path}: no review database there (nothing has been reviewed yet)")
    dataset = _dataset(a, store)
    split = None
    if a.split is not None:
        from ..data.splits import load_all

        split = load_all(a.data).resolve(a.split) if a.data else a.split
    decisions = store.decisions(dataset, split, a.reviewer) if dataset else []
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out, decisions_csv(decisions))
    print(f"wrote {len(decisions)} decision{'' if len(decisions) == 1 else 's'} to {out}")
    if a.votes:
        votes = Path(a.votes)
        votes.parent.mkdir(parents=True, exist_ok=True)
        table = vote_table(decisions)
        atomic_write_bytes(votes, table.to_csv(index=False).encode())
        print(f"wrote the votes on {len(table)} face{'' if len(table) == 1 else 's'} to {votes}")
    return 0
