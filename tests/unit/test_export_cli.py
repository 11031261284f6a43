"""`python -m ferviz export` end to end on a tiny synthetic FER2013 CSV and a hand-weighted model."""
from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest

from ferviz import cli
from ferviz.cli import parse_cell
from ferviz.export import ExportError, read_errors_csv
from tests.filecheck import file_kind, pdf_text, png_size, svg_text
from ferviz.labels import EMOTIONS

N = 42


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """fer2013.csv (N PrivateTest rows) + a brightness model whose prediction follows the face's mean."""
    from ferviz.models import ModelCard
    from tests.unit.tiny_models import brightness_model

    root = tmp_path_factory.mktemp("export-cli")
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[:48, :48]
    rows = []
    for i in range(N):
        level = rng.uniform(0.05, 0.95)
        face = np.clip(level * 255 + 40 * np.sin(xx / 5.0 + i) + rng.normal(0, 10, (48, 48)), 0, 255)
        rows.append((int(rng.integers(0, 7)), " ".join(map(str, face.astype(np.uint8).ravel())), "PrivateTest"))
    csv = root / "fer2013.csv"
    pd.DataFrame(rows, columns=["emotion", "pixels", "Usage"]).to_csv(csv, index=False)
    model = brightness_model(np.linspace(0.05, 0.95, 7).astype(np.float32))
    model.save(root / "tiny.keras")
    card = ModelCard(name="Tiny brightness", file="tiny.keras", gradcam_layer="conv").save(root / "tiny.json")
    return {"data": csv, "card": card.path, "root": root}


def run(setup, tmp, *args, capsys):
    code = cli.main(["export", "--model", str(setup["card"]), "--data", str(setup["data"]),
                     "--split", "PrivateTest", "--out", str(tmp), *args])
    out, err = capsys.readouterr()
    return code, [line for line in out.splitlines() if line.strip()], err


def test_csv_exports(setup, tmp_path, capsys):
    code, paths, _ = run(setup, tmp_path, "--errors-csv", capsys=capsys)
    assert code == 0 and paths == [str(tmp_path / "tiny_PrivateTest_errors.csv")]
    errors = read_errors_csv((tmp_path / "tiny_PrivateTest_errors.csv").read_bytes())
    assert len(errors) > 0 and (errors["true"] != errors["pred"]).all()
    assert errors["confidence"].is_monotonic_decreasing
    code, paths, _ = run(setup, tmp_path, "--per-class-csv", capsys=capsys)
    assert code == 0 and pd.read_csv(paths[0])["class"].tolist() == list(EMOTIONS)
    code, paths, _ = run(setup, tmp_path, "--predictions-csv", capsys=capsys)
    assert code == 0 and len(pd.read_csv(paths[0])) == N


def test_confusion_matrix_all_formats(setup, tmp_path, capsys):
    code, paths, _ = run(setup, tmp_path, "--confusion-matrix", "--normalize", "--format", "png", "svg", "pdf",
                         "--dpi", "100", capsys=capsys)
    assert code == 0
    assert [p.rsplit("/", 1)[1] for p in paths] == [f"tiny_PrivateTest_confusion_normalized.{f}"
                                                    for f in ("png", "svg", "pdf")]
    data = {f: (tmp_path / f"tiny_PrivateTest_confusion_normalized.{f}").read_bytes() for f in ("png", "svg", "pdf")}
    assert {file_kind(b) for b in data.values()} == {"png", "svg", "pdf"}
    assert png_size(data["png"]) == (640, 560)  # default 6.4 x 5.6 in at --dpi 100
    for text in (svg_text(data["svg"]), pdf_text(data["pdf"])):
        assert "Tiny brightness on PrivateTest: accuracy" in text and "row-normalised" in text
        assert all(e in text for e in EMOTIONS)


def test_ids_with_gradcam_overlay(setup, tmp_path, capsys):
    code, paths, err = run(setup, tmp_path, "--ids", "3", "11", "3", "--method", "gradcam", "--format", "png", "svg",
                           "--dpi", "100", "--size", "6", "3", capsys=capsys)
    assert code == 0, err
    names = [p.rsplit("/", 1)[1] for p in paths]
    assert names == ["tiny_PrivateTest_3_gradcam.png", "tiny_PrivateTest_3_gradcam.svg",
                     "tiny_PrivateTest_11_gradcam.png", "tiny_PrivateTest_11_gradcam.svg"]
    assert png_size((tmp_path / names[0]).read_bytes()) == (600, 300)
    text = svg_text((tmp_path / names[1]).read_bytes())
    assert "Grad-CAM (" in text and "image: 3" in text and "top-3 probabilities" in text and "predicted: " in text


def test_cell_sheet_with_limit(setup, tmp_path, capsys):
    run(setup, tmp_path, "--errors-csv", capsys=capsys)
    errors = read_errors_csv((tmp_path / "tiny_PrivateTest_errors.csv").read_bytes())
    t, p = errors.loc[0, "true"], errors.loc[0, "pred"]
    cell = errors[(errors["true"] == t) & (errors["pred"] == p)]
    code, paths, err = run(setup, tmp_path, "--cell", f"{t}:{p}", "--format", "pdf", "svg", "--limit", "1",
                           capsys=capsys)
    assert code == 0, err
    assert [x.rsplit("/", 1)[1] for x in paths] == [f"tiny_PrivateTest_{t}-{p}_sheet.{f}" for f in ("svg", "pdf")]
    for f, read in (("svg", svg_text), ("pdf", pdf_text)):
        text = read((tmp_path / f"tiny_PrivateTest_{t}-{p}_sheet.{f}").read_bytes())
        assert f"true {t} \u2192 predicted {p}, {len(cell)} images" in text
        assert cell.iloc[0]["id"] in text and f"{100 * cell.iloc[0]['confidence']:.1f}%" in text
    code, paths, err = run(setup, tmp_path, "--cell", f"{t}:{p}", "--method", "gradcam", "--format", "png", "svg",
                           capsys=capsys)
    assert code == 0, err
    assert [x.rsplit("/", 1)[1] for x in paths] == [f"tiny_PrivateTest_{t}-{p}_gradcam_sheet.{f}"
                                                    for f in ("png", "svg")]
    assert file_kind((tmp_path / paths[0].rsplit("/", 1)[1]).read_bytes()) == "png"
    assert "overlay: Grad-CAM for the predicted class" in svg_text((tmp_path / paths[1].rsplit("/", 1)[1]).read_bytes())


def test_errors_csv_in_the_galleries_label_issue_view(setup, tmp_path, capsys):
    """--sort label-issue --show label-issues: the dashboard's view, with its quality columns."""
    from ferviz.data.splits import load_fer2013
    from ferviz.analysis.evaluation import evaluate
    from ferviz.analysis.label_issues import evaluation_issues
    from ferviz.models import load_card

    code, paths, _ = run(setup, tmp_path, "--errors-csv", "--sort", "label-issue", "--show", "label-issues",
                         capsys=capsys)
    name = "tiny_PrivateTest_by-label-issue-score_label-issues_errors.csv"
    assert code == 0 and paths == [str(tmp_path / name)]
    got = read_errors_csv((tmp_path / name).read_bytes())
    split = load_fer2013(setup["data"], "PrivateTest")
    ev = evaluate(load_card(setup["card"]), split)
    li = evaluation_issues(ev)
    want = [split.ids[i] for i in li.order if li.flagged[i]]  # confident learning's ranking, flagged only
    assert got["id"].astype(str).tolist() == want and len(want) > 0
    assert set(got["verdict"]) == {"likely label issue"} and got["likely_label_issue"].all()
    assert {"label_issue_score", "issue_rank", "training_copy"} <= set(got.columns)


@pytest.mark.parametrize("args, message", [
    (["--ids", "no_such_id"], "no image with id 'no_such_id' in PrivateTest"),
    (["--cell", "fear-sad"], "--cell must look like TRUE:PRED"),
    (["--cell", "fear:bored"], "unknown emotion 'bored'"),
    (["--errors-csv", "--normalize"], "--normalize applies to --confusion-matrix only"),
    (["--errors-csv", "--method", "gradcam"], "--method applies to --ids and --cell only"),
    (["--ids", "1", "--method", "lime"], "unknown attribution method 'lime'"),
    (["--ids", "1", "--alpha", "2"], "opacity"),
    (["--ids", "1", "--cmap", "rainbowz"], "unknown colormap"),
    (["--ids", "1", "--dpi", "1"], "dpi must be"),
    (["--cell", "fear:sad", "--limit", "0"], "--limit must be a positive integer"),
    (["--ids", "1", "--target", "bored"], "--target must be pred, true or a class name"),
    (["--cell", "sad:contempt"], "--cell sad:contempt: Tiny brightness cannot output contempt; its classes are angry, "
                                 "disgust, fear, happy, sad, surprise, neutral"),
    (["--errors-csv", "any:not a face"], "--errors-csv any:not a face: Tiny brightness cannot output not a face"),
    (["--ids", "1", "--method", "gradcam", "--target", "contemptuous"], "--target: Tiny brightness cannot output "
                                                                         "contempt"),
    (["--cell", "contempt:sad"], "no images in cell true contempt -> predicted sad on PrivateTest"),
    (["--cell", "10:1"], "class index 10 is outside 0-9"),
    (["--confusion-matrix", "--labels", "ferplus"], "FER+"),
    (["--ids", "1", "--sort", "loss"], "--sort and --show apply to --cell and --errors-csv only"),
    (["--confusion-matrix", "--show", "label-issues"], "--sort and --show apply to --cell and --errors-csv only"),
])
def test_bad_input_is_one_line_exit_2(setup, tmp_path, capsys, args, message):
    code, _, err = run(setup, tmp_path, *args, capsys=capsys)
    assert code == 2
    lines = [ln for ln in err.splitlines() if ln.strip() and "%|" not in ln]
    assert lines[-1].startswith("ferviz export: error: ") and message in lines[-1], err


def test_empty_cell_is_an_error(setup, tmp_path, capsys):
    run(setup, tmp_path, "--predictions-csv", capsys=capsys)
    df = pd.read_csv(tmp_path / "tiny_PrivateTest_predictions.csv", dtype={"id": str})
    present = set(zip(df["true"], df["pred"]))
    t, p = next((a, b) for a in EMOTIONS for b in EMOTIONS if (a, b) not in present)
    code, _, err = run(setup, tmp_path, "--cell", f"{t}:{p}", capsys=capsys)
    assert code == 2 and f"no images in cell true {t} -> predicted {p}" in err


def test_method_without_attribution_package(setup, tmp_path, monkeypatch):
    import argparse

    from ferviz.cli import export as cli_export

    parser = argparse.ArgumentParser()
    cli_export.add_arguments(parser)
    a = parser.parse_args(["--model", str(setup["card"]), "--data", str(setup["data"]), "--ids", "1",
                           "--method", "gradcam", "--out", str(tmp_path)])
    import ferviz

    monkeypatch.setitem(sys.modules, "ferviz.attribution", None)  # the import fails
    monkeypatch.delattr(ferviz, "attribution", raising=False)
    with pytest.raises(ExportError, match="^attribution unavailable: ferviz.attribution cannot be imported"):
        cli_export.run(a)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("text, cell", [("fear:sad", (2, 4)), ("2:4", (2, 4)), ("Happy:NEUTRAL", (3, 6)),
                                        ("scared:sadness", (2, 4)), ("contempt:sad", (7, 4)), ("7:1", (7, 1))])
def test_parse_cell(text, cell):
    assert parse_cell(text) == cell


@pytest.mark.parametrize("text", ["fear", "fear:sad:x", ":sad", "10:1", "fear:bored"])
def test_parse_cell_rejects(text):
    with pytest.raises(ValueError, match="--cell"):
        parse_cell(text)


def test_comparison_figure_of_two_models(setup, tmp_path, capsys):
    from ferviz.models import ModelCard
    from tests.unit.tiny_models import brightness_model

    brightness_model(np.linspace(0.95, 0.05, 7).astype(np.float32)).save(setup["root"] / "flipped.keras")
    other = ModelCard(name="Flipped brightness", file="flipped.keras", gradcam_layer="conv").save(
        setup["root"] / "flipped.json")
    code, paths, _ = run(setup, tmp_path, "--ids", "3", "--compare", str(other.path), "--method", "gradcam",
                         "--format", "svg", capsys=capsys)
    assert code == 0 and paths == [str(tmp_path / "tiny_PrivateTest_3_gradcam_vs-flipped_comparison.svg")]
    text = svg_text((tmp_path / "tiny_PrivateTest_3_gradcam_vs-flipped_comparison.svg").read_bytes())
    assert "Tiny brightness" in text and "Flipped brightness" in text and "Grad-CAM" in text
    code, _, err = run(setup, tmp_path, "--cell", "0:1", "--compare", str(other.path), capsys=capsys)
    assert code == 2 and "--compare works with --ids" in err


def test_evaluate_out_that_is_a_file_is_one_line_exit_2(setup, tmp_path, capsys):
    (tmp_path / "taken").write_text("x")
    code = cli.main(["evaluate", "--model", str(setup["card"]), "--data", str(setup["data"]),
                     "--split", "PrivateTest", "--out", str(tmp_path / "taken")])
    err = capsys.readouterr().err
    assert code == 2 and err.strip().splitlines()[-1].startswith("ferviz evaluate: error: "), err
    assert (tmp_path / "taken").read_text() == "x"  # nothing lost


def test_exports_made_with_other_options_do_not_overwrite_each_other(setup, tmp_path, capsys):
    made = []
    for args in (["--errors-csv"], ["--errors-csv", "--sort", "loss"],
                 ["--ids", "3", "--method", "gradcam"], ["--ids", "3", "--method", "gradcam", "--target", "true"],
                 ["--ids", "3", "--method", "gradcam", "--target", "fear"]):
        code, paths, err = run(setup, tmp_path, *args, capsys=capsys)
        assert code == 0, err
        made += paths
    assert [p.rsplit("/", 1)[1] for p in made] == [
        "tiny_PrivateTest_errors.csv", "tiny_PrivateTest_by-loss_errors.csv",
        "tiny_PrivateTest_3_gradcam.png", "tiny_PrivateTest_3_gradcam_target-true.png",
        "tiny_PrivateTest_3_gradcam_target-fear.png"]
    assert all((tmp_path / p.rsplit("/", 1)[1]).is_file() for p in made)


def test_errors_csv_of_one_cell_row_or_column(setup, tmp_path, capsys):
    import io

    for arg, name, check in (("fear:any", "fear-any", lambda d: (d["true"] == "fear").all()),
                             ("any:sad", "any-sad", lambda d: (d["pred"] == "sad").all()),
                             ("2:4", "fear-sad", lambda d: ((d["true"] == "fear") & (d["pred"] == "sad")).all())):
        code, paths, err = run(setup, tmp_path, "--errors-csv", arg, capsys=capsys)
        assert code == 0, err
        assert paths == [str(tmp_path / f"tiny_PrivateTest_{name}_errors.csv")]
        df = pd.read_csv(io.BytesIO((tmp_path / f"tiny_PrivateTest_{name}_errors.csv").read_bytes()))
        assert check(df) and (df["true"] != df["pred"]).all()
    code, _, err = run(setup, tmp_path, "--errors-csv", "fear-sad", capsys=capsys)
    assert code == 2 and "--errors-csv must look like TRUE:PRED" in err


def test_update_card_refuses_ferplus_labels(setup, capsys):
    """A card records the accuracy on FER2013's own labels: --update-card with --labels ferplus is
    refused before anything is measured (the card is not touched)."""
    before = setup["card"].read_text()
    code = cli.main(["evaluate", "--model", str(setup["card"]), "--data", str(setup["data"]), "--update-card",
                     "--labels", "ferplus"])
    err = capsys.readouterr().err
    assert code == 2 and "--update-card records the accuracy on FER2013's own labels" in err
    assert setup["card"].read_text() == before
