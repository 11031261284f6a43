"""One palette per meaning, defined once: the dashboard's plotly charts and the exported matplotlib
figures both take their colours from here (no plotting library imported).

- **Classes** (:data:`CLASS_COLORS`): one colour per class (the ten of :data:`ferviz.labels.NAMES`), wherever a chart tells classes
  apart (the embedding map, the class distribution). Okabe-Ito's colours, readable with the
  common colour-vision deficiencies; happy is yellow (Okabe-Ito's orange is the label issues'),
  neutral grey.
- **Right or wrong** (:data:`CORRECT`, :data:`WRONG`) and the error verdicts of confident
  learning (:data:`ISSUE_COLORS`: a likely model error is the model's wrong answer, red; a likely
  label issue orange), as the gallery marks them (green ✓, red ✗, orange and red badges).
- **Probability bars** (:data:`PRED_COLOR`, :data:`TRUE_COLOR`, :data:`OTHER_COLOR`): the
  model's answer, the true class (the right answer: :data:`CORRECT`'s green), the rest.
- **Differences** between two models (:data:`DIFF_SCALE`): blue is better for the first model,
  red worse for it, white no difference.
- **Counts and shares** (:data:`CONFUSION_CMAP`): ColorBrewer "Blues", the same scale in plotly
  and matplotlib.
- **Calibration** (:data:`ACCURACY_COLOR`, :data:`GAP_COLOR`), **FER+ votes**
  (:data:`VOTE_TOP`, :data:`VOTE_EMOTION`, :data:`VOTE_OTHER`) and **series compared side by
  side** (:data:`SERIES_COLORS`: groups of faces, attribution methods).

No class colour is a colour of another meaning, and the colours shown beside the class colours on
the embedding map (right/wrong, the verdicts) are far from every class colour
(``tests/unit/test_palette.py``).
"""
from __future__ import annotations

#: one colour per class (Okabe-Ito for FER2013's seven), in class order: FER2013's seven, then
#: contempt (purple) and FER+'s non-classes unknown (near black) and not a face (olive brown)
CLASS_COLORS: dict[str, str] = {
    "angry": "#D55E00", "disgust": "#009E73", "fear": "#CC79A7", "happy": "#F0E442",
    "sad": "#0072B2", "surprise": "#56B4E9", "neutral": "#7F7F7F",
    "contempt": "#6A3D9A", "unknown": "#262626", "not a face": "#8C6D31",
}

#: right or wrong: a correct prediction (green, as the gallery's ✓) and a wrong one (red, ✗)
CORRECT, WRONG = "#7FBC41", "#CA0020"
#: the embedding's "label issue / model error" colouring: a verdict per face
ISSUE_COLORS: dict[str, str] = {"correct": CORRECT, "likely model error": WRONG, "likely label issue": "#E69F00"}

#: probability bars: the prediction (top bar), the true class (the right answer), the other classes
PRED_COLOR, TRUE_COLOR, OTHER_COLOR = "#2F4B7C", CORRECT, "#C9C9C9"
#: the true class named in text (a darker green than the bar: readable on white)
TRUE_TEXT = "#4D9221"

#: differences between two models: worse for the first model, no difference, better for it
WORSE, SAME, BETTER = "#B2182B", "#F7F7F7", "#2166AC"
#: a diverging scale from worse (0) through no difference (0.5) to better (1), as plotly takes it
DIFF_SCALE: list[list] = [[0.0, WORSE], [0.25, "#EF8A62"], [0.5, SAME], [0.75, "#67A9CF"], [1.0, BETTER]]

#: counts and shares (confusion matrices): ColorBrewer "Blues" (plotly and matplotlib name it so)
CONFUSION_CMAP = "Blues"
#: the embedding map coloured by confidence
CONFIDENCE_CMAP = "Viridis"

#: reliability diagrams: the accuracy bars and the line from a bar to the mean confidence
ACCURACY_COLOR, GAP_COLOR = "#4292C6", "#D7301F"

#: FER+'s votes for one face: the majority, the other emotions, contempt / unknown / not a face
VOTE_TOP, VOTE_EMOTION, VOTE_OTHER = "#08519C", "#9ECAE1", "#D9D9D9"

#: series compared side by side (a cell's faces and its references, attribution methods)
SERIES_COLORS: tuple[str, ...] = ("#882255", "#44AA99", "#DDCC77", "#AA4499", "#999933")

#: every meaning's colours (classes apart), for checks that no two meanings share one
MEANINGS: dict[str, tuple[str, ...]] = {
    "right or wrong": (CORRECT, WRONG),
    "verdicts": tuple(ISSUE_COLORS.values()),
    "probability bars": (PRED_COLOR, TRUE_COLOR, OTHER_COLOR, TRUE_TEXT),
    "differences": (WORSE, SAME, BETTER),
    "calibration": (ACCURACY_COLOR, GAP_COLOR),
    "FER+ votes": (VOTE_TOP, VOTE_EMOTION, VOTE_OTHER),
    "series": SERIES_COLORS,
}


def class_color(name: str) -> str:
    """The colour of an emotion by name."""
    return CLASS_COLORS[name]


def hex_rgb(color: str) -> tuple[int, int, int]:
    """'#RRGGBB' -> (r, g, b) in 0-255."""
    c = color.lstrip("#")
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)
