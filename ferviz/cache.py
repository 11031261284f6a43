"""Content hashing and atomic on-disk storage for cached arrays."""
from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

_CHUNK = 1 << 20


def file_hash(path: str | os.PathLike, *, _memo: dict = {}) -> str:
    """sha256 of a file's bytes (memoised on path, size and mtime)."""
    p = Path(path)
    st = p.stat()
    key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _memo:
        h = hashlib.sha256()
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(_CHUNK), b""):
                h.update(chunk)
        _memo[key] = h.hexdigest()
    return _memo[key]


def tree_hash(root: str | os.PathLike, files: list[Path]) -> str:
    """Hash of a folder's relevant files: relative names, sizes and contents."""
    h = hashlib.sha256()
    root = Path(root)
    for f in sorted(files):
        h.update(str(f.relative_to(root)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def key_hash(*parts: Any) -> str:
    """A short stable hash of JSON-serialisable parameters."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:24]


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write bytes to path via a temporary file and rename, so readers never see half a file."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, p)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def save_arrays(path: str | os.PathLike, **arrays: np.ndarray) -> None:
    """Atomically save arrays as an uncompressed .npz."""
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def load_arrays(path: str | os.PathLike) -> dict[str, np.ndarray] | None:
    """Load a .npz written by save_arrays, or None if absent or unreadable."""
    p = Path(path)
    if not p.is_file():
        return None
    try:
        with np.load(p, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except Exception:
        return None
