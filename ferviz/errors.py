"""The one family of errors ferviz raises on purpose: a message meant for the user.

Every error class in ferviz derives from :class:`FervizError`, so the command line catches the
base once and the app shows it once. Each subject has its own subclass; most are also a
``ValueError`` (bad input), ``NotFoundError`` is also a ``KeyError`` and ``ServerBusy`` a
``RuntimeError``, so code that catches the built-in kinds keeps working.
"""
from __future__ import annotations


class FervizError(Exception):
    """Base of every ferviz error; its message says what is wrong and, where it can, what to do."""


class LabelError(FervizError, ValueError):
    """An expression or split name (or index) that ferviz does not know."""


class DataError(FervizError, ValueError):
    """Dataset input that cannot be read; the message names the file, row or entry."""


class NotFoundError(FervizError, KeyError):
    """An id, class or entry that is not in the data asked about."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class ModelError(FervizError, ValueError):
    """A model file or card that cannot be used; the message says why."""


class TrainError(ModelError):
    """Training cannot start; the message says why."""


class AnalysisError(FervizError, ValueError):
    """An analysis (metrics, calibration, label issues, embedding, feature maps) asked of bad input."""


class AttributionError(FervizError, ValueError):
    """An attribution asked of bad input: method, target, views, images or maps."""


class PhotoError(FervizError, ValueError):
    """A photo that cannot be used; the one-line message says why."""


class FaceError(FervizError, ValueError):
    """A face box or video frame that cannot be used (outside the image, empty, not four numbers)."""


class ExportError(FervizError, ValueError):
    """Bad figure or export input (format, size, cell, ids); the message says which value and why."""


class ServerBusy(FervizError, RuntimeError):
    """A shared server has no slot free for a heavy computation within the wait."""


class ReviewError(DataError):
    """A label-review database or decisions file that cannot be used (damaged, not ferviz's, a bad
    line); the message names the file (and line) and says what to do. Nothing is written to it."""


class ReportError(FervizError, ValueError):
    """A report that cannot be made as asked (the same model twice, an unknown format)."""
