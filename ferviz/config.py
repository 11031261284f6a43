"""Every setting ferviz reads from the environment, in one place, with its default.

No other module reads a ``FERVIZ_*`` variable; :data:`SETTINGS` is the table the README and
``docs/settings.md`` show (a test keeps them in step).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MODELS_DIR = PROJECT_ROOT / "models"
DATA_DIR = PROJECT_ROOT / "data"

#: Where ferviz looks for FER2013 when no path is given and FERVIZ_DATA is unset, in order.
DEFAULT_DATA_CANDIDATES: tuple[Path, ...] = (
    DATA_DIR / "fer2013.csv",
    DATA_DIR / "archive.zip",
    DATA_DIR / "fer2013",
    DATA_DIR,
)
_TRUE = ("1", "true", "yes", "on")


@dataclass(frozen=True)
class Setting:
    """One environment variable: its name, default (as shown to users) and meaning."""

    name: str
    default: str
    meaning: str


SETTINGS: tuple[Setting, ...] = (
    Setting("FERVIZ_DATA", "data/fer2013.csv, data/archive.zip, data/fer2013/ or data/ (first found)",
            "the dataset: fer2013.csv, the Kaggle archive.zip, its unpacked folders or the FER+ folders"),
    Setting("FERVIZ_MODELS", "(none)", "extra model folders, separated by the OS path separator (`:` on Linux)"),
    Setting("FERVIZ_CACHE", "$XDG_CACHE_HOME/ferviz or ~/.cache/ferviz",
            "the disk cache of decoded data, predictions, maps and tables"),
    Setting("FERVIZ_REVIEWS", "$XDG_DATA_HOME/ferviz/reviews.sqlite or ~/.local/share/ferviz/reviews.sqlite",
            "the label review's SQLite database (every reviewer's decisions)"),
    Setting("FERVIZ_SHARED", "0", "1: a shared instance (no server paths or dataset uploads from visitors)"),
    Setting("FERVIZ_MAX_UPLOAD_MB", "20 (5 in shared mode)", "the largest photo a visitor may upload, in MB"),
    Setting("FERVIZ_XRAI_SLOTS", "1", "XRAI maps computed at once per app process"),
    Setting("FERVIZ_XRAI_WAIT", "5", "seconds a visitor waits for an XRAI slot before \"busy, try again\""),
    Setting("FERVIZ_TF_THREADS", "TensorFlow's own (shared mode: half the cores)",
            "TensorFlow's intra- and inter-op threads per app process"),
    Setting("FERVIZ_PRECOMPUTE_WORKERS", "the number of CPU cores",
            "`python -m ferviz precompute`: worker processes when `--workers` is not given"),
    Setting("FERVIZ_STRICT", "0", "tests: 1 (CI) makes a test that would skip for want of data or Chromium fail"),
    Setting("FERVIZ_CHROMIUM", "chromium on the PATH, else /usr/bin/chromium", "tests: the browser the browser tests drive"),
    Setting("FERVIZ_SCREENSHOTS", "(none)", "tests: a folder where the browser tests also save their screenshots"),
)


def _env(name: str) -> str:
    return os.environ.get(name, "").strip()


def _flag(name: str) -> bool:
    return _env(name).lower() in _TRUE


def _number(name: str, default: float, lo: float, kind: type = float) -> float:
    try:
        return max(lo, kind(_env(name) or default))
    except ValueError:
        return default


def data_path() -> Path | None:
    """FERVIZ_DATA as a path, or None when unset."""
    value = _env("FERVIZ_DATA")
    return Path(value).expanduser() if value else None


def cache_setting() -> Path | None:
    """FERVIZ_CACHE as a path, or None when unset."""
    value = _env("FERVIZ_CACHE")
    return Path(value).expanduser() if value else None


def cache_dir() -> Path:
    """Root of ferviz's disk cache: FERVIZ_CACHE, else $XDG_CACHE_HOME/ferviz, else ~/.cache/ferviz."""
    root = cache_setting()
    if root is None:
        root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ferviz"
    root.mkdir(parents=True, exist_ok=True)
    return root


def set_cache_dir(path: str | os.PathLike) -> None:
    """Make `path` this process's FERVIZ_CACHE (a precompute worker's cache folder)."""
    os.environ["FERVIZ_CACHE"] = str(path)


def reviews_path() -> Path:
    """The label review's database: FERVIZ_REVIEWS, else $XDG_DATA_HOME/ferviz/reviews.sqlite, else
    ~/.local/share/ferviz/reviews.sqlite (the folder is made when the first decision is written)."""
    value = _env("FERVIZ_REVIEWS")
    if value:
        return Path(value).expanduser()
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "ferviz" / "reviews.sqlite"


def models_setting() -> str:
    """FERVIZ_MODELS as given (a cache key for the model list)."""
    return os.environ.get("FERVIZ_MODELS", "")


def extra_model_dirs() -> list[Path]:
    """Extra model folders from FERVIZ_MODELS (os.pathsep-separated)."""
    return [Path(p).expanduser() for p in models_setting().split(os.pathsep) if p.strip()]


def shared() -> bool:
    """Whether the app runs as a shared instance (FERVIZ_SHARED=1)."""
    return _flag("FERVIZ_SHARED")


def max_upload_mb() -> float:
    """The largest photo upload in MB (FERVIZ_MAX_UPLOAD_MB; 20, 5 in shared mode)."""
    return _number("FERVIZ_MAX_UPLOAD_MB", 5.0 if shared() else 20.0, 0.0)


def xrai_slots() -> int:
    """XRAI maps computed at once per process (FERVIZ_XRAI_SLOTS, at least 1)."""
    return int(_number("FERVIZ_XRAI_SLOTS", 1, 1, int))


def xrai_wait() -> float:
    """Seconds to wait for an XRAI slot (FERVIZ_XRAI_WAIT, default 5)."""
    return _number("FERVIZ_XRAI_WAIT", 5.0, 0.0)


def tf_threads() -> int | None:
    """TensorFlow threads per process (FERVIZ_TF_THREADS); in shared mode half the cores by
    default; None: TensorFlow's own choice."""
    if not _env("FERVIZ_TF_THREADS") and not shared():
        return None
    return int(_number("FERVIZ_TF_THREADS", max(1, (os.cpu_count() or 2) // 2), 1, int))


def precompute_workers() -> int:
    """Worker processes of `ferviz precompute` (FERVIZ_PRECOMPUTE_WORKERS, default the CPU cores)."""
    return int(_number("FERVIZ_PRECOMPUTE_WORKERS", os.cpu_count() or 1, 1, int))


def strict() -> bool:
    """True when tests that need real data or a browser must not skip (CI: FERVIZ_STRICT=1)."""
    return _env("FERVIZ_STRICT").lower() not in ("", "0", "false", "no")


def chromium() -> str:
    """The Chromium the browser tests drive (FERVIZ_CHROMIUM, else chromium on the PATH)."""
    import shutil

    return _env("FERVIZ_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"


def screenshots_dir() -> Path | None:
    """FERVIZ_SCREENSHOTS: where browser tests also save their screenshots (None: unset)."""
    value = _env("FERVIZ_SCREENSHOTS")
    return Path(value).expanduser() if value else None
