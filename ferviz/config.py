"""Settings read from the environment, with documented defaults."""
from __future__ import annotations

import os
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


def cache_dir() -> Path:
    """Root of ferviz's disk cache: FERVIZ_CACHE, else $XDG_CACHE_HOME/ferviz, else ~/.cache/ferviz."""
    env = os.environ.get("FERVIZ_CACHE")
    if env:
        root = Path(env).expanduser()
    else:
        root = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "ferviz"
    root.mkdir(parents=True, exist_ok=True)
    return root


def extra_model_dirs() -> list[Path]:
    """Extra model folders from FERVIZ_MODELS (os.pathsep-separated)."""
    env = os.environ.get("FERVIZ_MODELS", "")
    return [Path(p).expanduser() for p in env.split(os.pathsep) if p.strip()]


def strict() -> bool:
    """True when tests that need real data or a browser must not skip (CI)."""
    return os.environ.get("FERVIZ_STRICT", "") not in ("", "0", "false", "no")
