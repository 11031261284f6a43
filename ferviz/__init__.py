"""ferviz: error analysis and attribution for facial-expression recognition models.

The core never imports streamlit; the dashboard lives in ``ferviz.ui`` and ``app.py``.
"""
from .labels import EMOTIONS, EXPRESSIONS, NAMES, NUM_CLASSES, SPLITS

__all__ = ["EMOTIONS", "EXPRESSIONS", "NAMES", "NUM_CLASSES", "SPLITS"]
__version__ = "0.1.0"
