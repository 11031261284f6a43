"""Serving many people from one process: shared mode, guard rails and per-process tuning.

- **Shared mode** (`FERVIZ_SHARED=1`): the inputs that take a path on the server (the Dataset
  page's path and upload, the sidebar's extra model folder) are hidden, so visitors cannot point
  the app at arbitrary server files; the data and models are the ones the server was started with.
- **Upload limit** per photo (`FERVIZ_MAX_UPLOAD_MB`, default 20, 5 in shared mode).
- **XRAI slots**: at most `FERVIZ_XRAI_SLOTS` XRAI maps (default 1) are computed at once in this
  process; a visitor who cannot get a slot within `FERVIZ_XRAI_WAIT` seconds (default 5) gets
  "busy, try again" instead of a page that hangs. Cached maps never wait for a slot.
- **Per-process tuning** (`tune`, once per process): Streamlit clears Keras's global session
  after every script run (`keras.backend.clear_session()`: a full garbage collection and
  TensorFlow's kernel cache thrown away); ferviz's models are shared resources that never depend
  on that state, so the app skips it; what is imported by the first run is moved out of the
  garbage collector's way (`gc.freeze`), and `.streamlit/config.toml` turns off Streamlit's
  `gc.collect(2)` after every run (`runner.postScriptGC`). In shared mode TensorFlow's intra-op threads are limited
  (`FERVIZ_TF_THREADS`, default half the cores) so that one visitor's XRAI does not take every core.
"""
from __future__ import annotations

import contextlib
import gc
import threading

from .. import config
from ..errors import ServerBusy

BUSY_MESSAGE = ("The server is busy computing other visitors' XRAI maps. Try again in a moment "
                "(the other maps on this page are not affected).")


def shared() -> bool:
    """Whether the app runs as a shared instance (`FERVIZ_SHARED=1`)."""
    return config.shared()


def max_upload_bytes() -> int:
    """Largest photo a visitor may upload (`FERVIZ_MAX_UPLOAD_MB`; 20 MB, 5 MB in shared mode)."""
    return max(1, int(config.max_upload_mb() * (1 << 20)))


class Busy(ServerBusy):
    """No XRAI slot was free within the wait."""

    def __init__(self) -> None:
        super().__init__(BUSY_MESSAGE)


_LOCK = threading.Lock()
_SLOTS: threading.BoundedSemaphore | None = None


def xrai_semaphore() -> threading.BoundedSemaphore:
    """The process-wide semaphore of XRAI computations (`FERVIZ_XRAI_SLOTS`, default 1)."""
    global _SLOTS
    with _LOCK:
        if _SLOTS is None:
            _SLOTS = threading.BoundedSemaphore(config.xrai_slots())
        return _SLOTS


@contextlib.contextmanager
def xrai_slot(wait: float | None = None):
    """Hold one XRAI slot while computing; `Busy` when none is free within `wait` seconds."""
    sem = xrai_semaphore()
    if not sem.acquire(timeout=config.xrai_wait() if wait is None else wait):
        raise Busy()
    try:
        yield
    finally:
        sem.release()


_TUNED = False


def tune() -> None:
    """Per-process settings for serving (idempotent; see the module docstring)."""
    global _TUNED
    if _TUNED:
        return
    _TUNED = True
    _skip_keras_clear_session()
    # what is loaded by now (Streamlit, TensorFlow, Keras, ferviz) lives as long as the process:
    # keep it out of every later garbage collection (runs that go through the whole heap)
    gc.collect()
    gc.freeze()
    n = config.tf_threads()
    if n is not None:
        try:
            import tensorflow as tf

            tf.config.threading.set_intra_op_parallelism_threads(n)
            tf.config.threading.set_inter_op_parallelism_threads(n)
        except (RuntimeError, ImportError):  # TensorFlow already started its runtime: keep its threads
            pass


def _skip_keras_clear_session() -> None:
    """Streamlit's script runner calls `keras.backend.clear_session()` after every run (a full
    gc.collect and TensorFlow's kernel cache dropped, ~0.1-0.3 s of CPU per run with TensorFlow
    loaded); keep only its other clean-up (closing pyplot figures)."""
    try:
        from streamlit.runtime.scriptrunner import script_runner
    except ImportError:
        return
    if not hasattr(script_runner, "_clean_problem_modules"):
        return

    def clean() -> None:
        import sys

        plt = sys.modules.get("matplotlib.pyplot")
        if plt is not None:
            plt.close("all")

    script_runner._clean_problem_modules = clean
