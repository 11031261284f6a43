"""ferviz: error analysis and attribution for facial-expression recognition models.

The core never imports streamlit; the dashboard lives in ``ferviz.ui`` and ``app.py``.
"""
from .labels import EMOTIONS, NUM_CLASSES, SPLITS

__all__ = ["EMOTIONS", "NUM_CLASSES", "SPLITS"]
__version__ = "0.1.0"
