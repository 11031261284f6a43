"""Error types shared across ferviz's core modules."""
from __future__ import annotations


class DataError(ValueError):
    """FER2013 input that cannot be read; the message names the file, row or entry."""
