"""The report's reproducibility block: the command line, ferviz and package versions, the data
file's hash, each model file's sha256, each card and every seed."""
from __future__ import annotations

import json
import platform
from importlib import metadata
from pathlib import Path

from .document import Paragraph, Section, Table
from .inputs import Inputs

PACKAGES = ("tensorflow", "keras", "numpy", "pandas", "scikit-learn", "scipy", "statsmodels", "matplotlib",
            "imagehash", "mtcnn", "saliency", "pillow")


def package_versions() -> dict[str, str]:
    """Installed versions of the packages the report's numbers depend on ('not installed' if absent)."""
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def card_text(card) -> str:
    """The card as JSON, without its training notes (long; they are in the card file itself)."""
    d = card.to_json()
    d.pop("training", None)
    return json.dumps(d, indent=1, sort_keys=False, ensure_ascii=False)


def reproducibility(inp: Inputs) -> Section:
    from .. import __version__
    from ..data.splits import source_kind

    o = inp.options
    split = inp.split
    s = Section("Reproducibility")
    s.add(Paragraph("The same command on the same data file and model files gives the same report, apart from "
                    "the line saying when it was generated."),
          Paragraph("Command:"), Paragraph(inp.command, "code"))
    rows = [("ferviz", __version__),
            ("data file", f"{Path(str(split.source)).name} ({source_kind(split.source)})"),
            ("data sha256" if source_kind(split.source) in ("zip", "csv") else "data hash", split.source_hash),
            ("split", f"{split.title} ({len(split):,} images)")]
    for card in inp.cards:
        rows += [(f"model file of {card.name}", Path(card.model_path).name),
                 (f"model sha256 of {card.name}", card.model_hash())]
    rows += [("seeds", f"{o.seed} (trust sample, region groups, slices' error tree, stress noise and shifts); label "
                       "issues, calibration and duplicates use no randomness"),
             ("settings", f"trust sample {o.trust_n} faces; face sheets {o.pair_sheets} pairs x {o.sheet_faces} faces; "
                          f"regions {o.region_cells} cells, {o.region_faces} faces per group, {o.region_method}; "
                          f"failure slices {'on' if o.slices else 'off'}; stress severity {o.stress_severity} on "
                          f"{o.stress_faces or 'all'} faces; "
                          f"figures {o.dpi:g} dpi")]
    rows += [(k, v) for k, v in package_versions().items()]
    s.add(Table(("what", "value"), tuple(rows)))
    for card in inp.cards:
        s.add(Paragraph(f"Card of {card.name} ({Path(card.path).name if card.path else card.file}):"),
              Paragraph(card_text(card), "code"))
    return s
