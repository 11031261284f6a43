"""``ferviz precompute``: fill the cache the app reads ahead of time, on a process pool or Ray.

Progress (tasks done, computed, cached, failed, time left) goes to stderr; the last line on
stdout is a one-line JSON summary with ``computed``, ``cached`` and ``failed``. Stop it at any
point and run it again: only the missing entries are computed. Exit status 1 when a task failed
twice.
"""
from __future__ import annotations

from . import args as A


def _what(text: str) -> list[str]:
    from ..precompute import WHAT

    names = [s.strip().lower() for s in str(text).split(",") if s.strip()]
    bad = [n for n in names if n not in WHAT]
    if not names or bad:
        A._fail(f"must be a comma list of {', '.join(WHAT)}, got {text!r}")
    return names


def _cells(text: str) -> list[tuple[int, int]]:
    return [A.cell(c) for c in str(text).split(",") if c.strip()]


def _split_list(text: str) -> list[str]:
    return [A.split(s) for s in str(text).split(",") if s.strip()]


def add_arguments(p) -> None:
    p.add_argument("--models", "--model", dest="models", action="extend", type=A.model_list, required=True,
                   metavar="MODEL", help="card paths, model files or registry names (repeated or a comma list)")
    A.add_data(p)
    p.add_argument("--splits", "--split", dest="splits", action="extend", type=_split_list, metavar="SPLIT",
                   help="splits (repeated or a comma list; default PrivateTest)")
    p.add_argument("--what", type=_what, default=["evaluate", "maps"],
                   help="comma list of evaluate, maps, embedding, landmarks, calibration, slices (face attributes and "
                        "the error clusters' features), stress (every perturbed copy) (default evaluate,maps)")
    faces = p.add_mutually_exclusive_group()
    faces.add_argument("--cells", type=_cells, metavar="T:P,...",
                       help="maps for these confusion cells' galleries (e.g. fear:sad,sad:neutral)")
    faces.add_argument("--errors", action="store_true", help="maps for every error of the split (the default)")
    faces.add_argument("--all", action="store_true", help="maps for every face of the split")
    p.add_argument("--top", type=A.positive_int, metavar="K",
                   help="the first K faces of each cell's gallery in its default order (most confident first)")
    p.add_argument("--methods", type=A.method_list, default=None,
                   help="attribution methods (default gradcam,gradcampp,xrai: the inspector's)")
    p.add_argument("--workers", type=A.non_negative_int, default=None,
                   help="worker processes (default FERVIZ_PRECOMPUTE_WORKERS or the CPU cores; 0: in this "
                        "process); with --ray, batches in flight (default: the cluster's CPUs)")
    p.add_argument("--ray", metavar="ADDRESS", nargs="?", const="auto",
                   help="run on Ray: auto (a cluster started with `ray start`), an address, or local "
                        "(a Ray on this machine); needs pip install 'ferviz[ray]'")
    p.add_argument("--send-results", action="store_true",
                   help="workers send results back and the driver writes them (workers share no cache folder)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")


def run(a) -> int:
    from .. import config
    from ..models import find_card
    from ..precompute import DEFAULT_METHODS, precompute, stderr_report

    cards = [find_card(m) for m in a.models]
    workers = a.workers if a.workers is not None else (0 if a.ray else config.precompute_workers())
    from ..data.splits import data_ref

    summary = precompute(cards, data_ref(a.data, a.labels), a.splits or ["PrivateTest"], a.what, cells=a.cells,
                         scope="all" if a.all else "errors", top=a.top, methods=a.methods or DEFAULT_METHODS,
                         workers=workers, ray=a.ray, send=a.send_results,
                         report=None if a.quiet else stderr_report)
    print(summary.json(), flush=True)
    return 1 if summary.failed else 0
