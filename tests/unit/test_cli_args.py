"""The command table of ferviz.cli and its shared argument types (ferviz.cli.args): bad values stop a
command at parse time with one line and exit 2, before any data or model is loaded."""
from __future__ import annotations

import argparse
import pkgutil
import re
import subprocess
import sys

import pytest

from ferviz import cli
from ferviz.cli import args as A
from ferviz.cli import main
from ferviz.config import PROJECT_ROOT as ROOT


# ------------------------------------------------------------------ the types

@pytest.mark.parametrize("parse, good, bad", [
    (A.positive_int, [("1", 1), ("42", 42), (" 7 ", 7)], [("0", "positive integer"), ("-1", "positive integer"),
                                                         ("1.5", "whole number"), ("x", "whole number"),
                                                         ("", "whole number")]),
    (A.non_negative_int, [("0", 0), ("3", 3)], [("-1", "non-negative integer"), ("nan", "whole number")]),
    (A.int_range(2, 5), [("2", 2), ("5", 5)], [("1", "in 2-5"), ("6", "in 2-5"), ("2.0", "whole number")]),
    (A.finite_float, [("0", 0.0), ("-2.5", -2.5), ("1e-3", 1e-3)], [("nan", "finite"), ("inf", "finite"),
                                                                   ("-inf", "finite"), ("abc", "a number")]),
    (A.positive_float, [("1e-3", 1e-3), ("2", 2.0)], [("0", "positive number"), ("-1", "positive number"),
                                                      ("nan", "finite"), ("inf", "finite")]),
    (A.opacity, [("0", 0.0), ("0.5", 0.5), ("1", 1.0)], [("2", "opacity in [0, 1]"), ("-0.1", "opacity"),
                                                         ("nan", "finite")]),
    (A.dpi, [("10", 10.0), ("150", 150.0), ("2400", 2400.0)], [("1", "dpi in [10, 2400]"), ("2401", "dpi"),
                                                               ("inf", "finite"), ("nan", "finite")]),
    (A.inches, [("0.5", 0.5), ("6", 6.0)], [("0.1", "size in inches"), ("101", "size in inches"),
                                           ("nan", "finite")]),
    (A.px, [("16", 16), ("192", 192), ("2048", 2048)], [("15", "in 16-2048"), ("4096", "in 16-2048")]),
    (A.float_range(0, 1, hi_open=True), [("0", 0.0), ("0.99", 0.99)], [("1", "in [0, 1)"), ("-1", "in [0, 1)")]),
    (A.cell, [("fear:sad", (2, 4)), ("2:4", (2, 4)), ("Happy:NEUTRAL", (3, 6)), ("scared:sadness", (2, 4)),
              ("contempt:sad", (7, 4)), ("7:1", (7, 1)), ("happy:not a face", (3, 9))],
     [("fear", "TRUE:PRED"), ("fear:sad:x", "TRUE:PRED"), (":sad", "TRUE:PRED"), ("10:1", "outside 0-9"),
      ("fear:bored", "unknown emotion 'bored'"), ("fear:any", "unknown emotion 'any'")]),
    (A.cell_or_any, [("fear:any", (2, None)), ("any:sad", (None, 4)), ("2:4", (2, 4))],
     [("fear-sad", "TRUE:PRED"), ("any", "TRUE:PRED")]),
    (A.target, [("pred", "pred"), ("Predicted", "pred"), ("true", "true"), ("label", "true"), ("Fear", "fear"),
                ("2", "fear"), ("scared", "fear"), ("Contemptuous", "contempt"), ("7", "contempt")],
     [("bored", "bad target 'bored'"), ("10", "pred, true or")]),
    (A.label_set, [("fer2013", "fer2013"), ("FERPlus", "ferplus"), ("FER+", "ferplus"), ("fer-plus", "ferplus")],
     [("ckplus", "must be fer2013"), ("", "must be fer2013")]),
    (A.method, [("gradcam", "gradcam"), ("XRAI", "xrai"), ("ig", "ig")], [("lime", "unknown attribution method")]),
    (A.method_list, [("gradcam,xrai", ["gradcam", "xrai"]), ("ig, ig", ["ig"])],
     [(" , ", "at least one"), ("gradcam,lime", "unknown attribution method 'lime'")]),
    (A.model_list, [("a,b", ["a", "b"]), ("one", ["one"])], [(" , ", "must name models"), ("a,,b", "must name")]),
    (A.split, [("PrivateTest", "PrivateTest"), ("private", "PrivateTest"), ("training", "Training"),
               ("test", "test"), ("VAL", "val")],
     [("validation", "one of Training, PublicTest, PrivateTest")]),
    (A.box, [("1,2,30,40", (1, 2, 30, 40)), ("1, 2, 3, 4", (1, 2, 3, 4))],
     [("1,2,3", "four integers"), ("a,b,c,d", "four integers"), ("1,2,0,4", "positive width")]),
    (A.non_empty, [("x", "x"), (" a ", "a")], [("  ", "not be empty")]),
])
def test_shared_types_accept_good_and_reject_bad_values(parse, good, bad):
    for text, want in good:
        assert parse(text) == want, text
    for text, message in bad:
        with pytest.raises(argparse.ArgumentTypeError) as e:
            parse(text)
        assert message in str(e.value) and "\n" not in str(e.value), (text, str(e.value))


def test_existing_file(tmp_path):
    f = tmp_path / "model.keras"
    f.write_bytes(b"x")
    assert A.existing_file(str(f)) == str(f)
    for path, message in ((tmp_path / "nope.keras", "no such file"), (tmp_path, "not a file"), ("", "must be a file")):
        with pytest.raises(argparse.ArgumentTypeError, match=message):
            A.existing_file(str(path))


def test_parse_cell_names_its_option():
    assert cli.parse_cell("fear:sad") == (2, 4)
    assert cli.parse_cell("any:sad", "--errors-csv", allow_any=True) == (None, 4)
    with pytest.raises(ValueError, match="^--errors-csv must look like TRUE:PRED"):
        cli.parse_cell("fear", "--errors-csv", allow_any=True)


def test_literal_copies_agree_with_the_core():
    from ferviz import attribution
    from ferviz.analysis import feature_maps
    from ferviz.models import on_device as model_export
    from ferviz.figures import overlay
    from ferviz.cli import duplicates, embed, export_model, features
    from ferviz.data.duplicates import NEAR_DISTANCE
    from ferviz.export import FORMATS
    from ferviz.export.embedding import COLOR_BY

    assert A.METHODS == tuple(attribution.METHODS) and A.VIEWS == tuple(attribution.VIEW_MODES)
    assert A.FIGURE_FORMATS == FORMATS and A.CMAPS == overlay.CMAPS and A.DEFAULT_CMAP == overlay.DEFAULT_CMAP
    assert export_model.FORMATS == model_export.FORMATS and duplicates.NEAR_DISTANCE == NEAR_DISTANCE
    assert features.RANKS == tuple(feature_maps.RANKS) and features.MAX_TOP == feature_maps.MAX_TOP
    assert embed.COLOR_BY == COLOR_BY
    from ferviz.data.splits import LABEL_SETS, check_label_set

    assert A.LABEL_SETS == LABEL_SETS
    for text in ("fer2013", "FER2013", "ferplus", "FER+", "Fer-Plus"):
        assert A.label_set(text) == check_label_set(text), text


#: commands with --data but no --labels: their core functions read FER2013's own labels only
#: (train, precompute), no labels at all (export-model's parity faces) or the dataset's own labels
#: under review (reviews)
NO_LABELS = {"export-model", "reviews"}


def test_every_command_that_reads_fer2013_takes_labels():
    parser = cli.build_parser(cli.COMMANDS)
    subs = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    with_data = set()
    for name, p in subs.choices.items():
        opts = {s: a for a in p._actions for s in a.option_strings}
        if "--data" not in opts:
            continue
        with_data.add(name)
        if name in NO_LABELS:
            assert "--labels" not in opts, name
            continue
        a = opts["--labels"]
        assert a.default == "fer2013" and a.type is A.label_set, name
        assert "FER+" in a.help and "contempt" in a.help and "fer2013.csv" in a.help, name
    assert cli.build_parser(["evaluate"]).parse_args(["evaluate", "--model", "m", "--labels", "FER+"]).labels == \
        "ferplus"
    assert cli.build_parser(["landmarks"]).parse_args(["landmarks"]).labels == "fer2013"
    assert with_data - NO_LABELS >= {"evaluate", "explain", "export", "report", "calibration", "label-issues",
                                     "trust", "layers", "embed", "features", "regions", "slices", "stress",
                                     "neighbours", "duplicates", "landmarks"}


# ------------------------------------------------------------------ parse-time errors

@pytest.fixture
def nothing_loads(monkeypatch):
    """Any attempt to read data, a card or a model fails the test."""
    def boom(*a, **k):
        raise AssertionError("loaded something before the arguments were checked")

    for target in ("ferviz.data.splits.load_fer2013", "ferviz.data.splits.load_all", "ferviz.models.find_card",
                   "ferviz.models.load_model", "ferviz.models.training.train"):
        monkeypatch.setattr(target, boom)


@pytest.mark.parametrize("argv, message", [
    (["train", "--arch", "baseline_cnn", "--lr", "nan"], "--lr must be a finite number, got 'nan'"),
    (["train", "--arch", "baseline_cnn", "--lr", "0"], "--lr must be a positive number"),
    (["train", "--arch", "baseline_cnn", "--epochs", "0"], "--epochs must be a positive integer, got 0"),
    (["train", "--arch", "baseline_cnn", "--batch-size", "-1"], "--batch-size must be a positive integer, got -1"),
    (["train", "--arch", "baseline_cnn", "--soft", "2"], "--soft must be a weight in [0, 1]"),
    (["train", "--arch", "baseline_cnn", "--dropout", "inf"], "--dropout must be a finite number"),
    (["train", "--arch", "baseline_cnn", "--label-smoothing", "1"], "--label-smoothing must be in [0, 1)"),
    (["train", "--arch", "baseline_cnn", "--init", "/no/such.keras"], "--init must be an existing file"),
    (["export", "--model", "m", "--ids", "1", "--out", "o", "--alpha", "2"], "--alpha must be an opacity"),
    (["export", "--model", "m", "--ids", "1", "--out", "o", "--dpi", "inf"], "--dpi must be a finite number"),
    (["export", "--model", "m", "--ids", "1", "--out", "o", "--inches", "6", "0"], "--inches must be a size in"),
    (["export", "--model", "m", "--cell", "fear:bored", "--out", "o"], "unknown emotion 'bored'"),
    (["export", "--model", "m", "--ids", "1", "--out", "o", "--method", "lime"], "unknown attribution method"),
    (["explain", "--model", "m", "--errors", "--out", "o", "--px", "8"], "--px must be in 16-2048, got 8"),
    (["explain", "--model", "m", "--errors", "--out", "o", "--limit", "0"], "--limit must be a positive integer"),
    (["explain", "--model", "m", "--errors", "--out", "o", "--split", "dev"], "--split must be one of"),
    (["embed", "--model", "m", "--out", "o", "--seed", "-3"], "--seed must be a non-negative integer"),
    (["calibration", "--model", "m", "--out", "o", "--bins", "0"], "--bins must be in 1-1000, got 0"),
    (["duplicates", "--out", "o", "--max-distance", "65"], "--max-distance must be in 0-64"),
    (["trust", "--model", "m", "--out", "o", "--methods", "gradcam,lime"], "unknown attribution method 'lime'"),
    (["layers", "--model", "m", "--last", "0"], "--last must be a positive integer"),
    (["layers", "--model", "m", "--method", "xrai"], "--method must be one of gradcam, gradcampp"),
    (["features", "--model", "m", "--ids", "1", "--out", "o", "--top", "33"], "--top must be in 1-32, got 33"),
    (["regions", "--model", "m", "--cell", "fear:sad", "--out", "o", "--max-faces", "1"], "--max-faces must be"),
    (["export-model", "--model", "m", "--format", "onnx", "--out", "o", "--n", "0"], "--n must be a positive"),
    (["predict", "--model", "m", "x.jpg", "--box", "1,2,3"], "--box must be four integers"),
    (["label-issues", "--model", " , ", "--out", "o"], "--model must name models"),
    (["evaluate", "--model", "m", "--labels", "ckplus"], "--labels must be fer2013 (the dataset's own labels) or "
                                                         "ferplus (FER+'s majority vote, eight classes with contempt"),
    (["report", "--model", "m", "--out", "o", "--labels", "fer"], "--labels must be fer2013"),
    (["explain", "--model", "m", "--cell", "10:1", "--out", "o"], "class index 10 is outside 0-9"),
    (["explain", "--model", "m", "--errors", "--out", "o", "--target", "bored"], "unknown emotion 'bored'"),
])
def test_bad_values_exit_2_at_parse_time(nothing_loads, capsys, argv, message):
    assert main(argv) == 2
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"ferviz {argv[0]}: error: ") and message in lines[0], err
    assert out == ""


def test_train_lr_nan_exits_2_in_a_fresh_process_without_tensorflow():
    code = ("import sys\nfrom ferviz.cli import main\nrc = main(['train', '--arch', 'baseline_cnn', '--lr', 'nan'])\n"
            "assert rc == 2, rc\n"
            "heavy = [m for m in ('tensorflow', 'keras', 'pandas', 'matplotlib') if m in sys.modules]\n"
            "assert not heavy, heavy\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-1500:]
    assert "ferviz train: error: --lr must be a finite number, got 'nan'" in r.stderr


def test_the_console_script_entry_point_and_python_m_agree():
    r = subprocess.run([sys.executable, "-m", "ferviz", "train", "--arch", "baseline_cnn", "--epochs", "0"],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and r.stderr.startswith("ferviz train: error: --epochs must be a positive integer")
    import tomllib

    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["ferviz"] == "ferviz.cli:main" and cli.main is main


# ------------------------------------------------------------------ deprecated spellings

def test_old_spellings_still_parse_with_their_old_meaning(capsys):
    cases = [("explain", ["--model", "m", "--errors", "--out", "o", "--size", "96"], "px", 96),
             ("export", ["--model", "m", "--ids", "1", "--out", "o", "--size", "6", "3"], "inches", [6.0, 3.0]),
             ("layers", ["--model", "m", "--limit", "3"], "last", 3),
             ("embed", ["--model", "m", "--out", "o", "--method", "pca"], "projection", "pca")]
    for cmd, argv, dest, value in cases:
        a = cli.build_parser([cmd]).parse_args([cmd, *argv])
        assert getattr(a, dest) == value, cmd
        assert f"is deprecated; use --{dest}" in capsys.readouterr().err
    new = cli.build_parser(["export"]).parse_args(["export", "--model", "m", "--ids", "1", "--out", "o",
                                                   "--inches", "6", "3"])
    assert new.inches == [6.0, 3.0] and capsys.readouterr().err == ""
    assert main(["explain", "--model", "m", "--errors", "--out", "o", "--size", "8"]) == 2  # old name, same checks
    assert "--size must be in 16-2048, got 8" in capsys.readouterr().err


def test_one_meaning_per_option_name():
    """An option name means one thing in every command: --size is gone from the help (hidden alias)."""
    parser = cli.build_parser(cli.COMMANDS)
    subs = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, p in subs.choices.items():
        shown = {s for a in p._actions if a.help != argparse.SUPPRESS for s in a.option_strings}
        assert "--size" not in shown, name
        hidden = {s for a in p._actions if a.help == argparse.SUPPRESS for s in a.option_strings}
        for old in hidden:
            new = next(a for a in p._actions if a.help != argparse.SUPPRESS and a.dest == p._option_string_actions[
                old].dest)
            assert f"formerly {old}" in new.help, (name, old)
    helps = {name: subs.choices[name].format_help() for name in ("explain", "export", "layers", "embed")}
    assert "--px PX" in helps["explain"] and "--inches W H" in helps["export"]
    assert "--last LAST" in helps["layers"] and "--projection {umap,pca}" in helps["embed"]


# ------------------------------------------------------------------ the table

def test_the_table_lists_every_module_and_every_module_is_in_the_table():
    modules = {m.name for m in pkgutil.iter_modules(cli.__path__)}
    commands = {mod for mod, _ in cli.COMMANDS.values()}
    assert modules == commands | set(cli.SUPPORT_MODULES), modules ^ (commands | set(cli.SUPPORT_MODULES))
    assert not commands & set(cli.SUPPORT_MODULES)
    for name, (mod, _) in cli.COMMANDS.items():
        assert mod == name.replace("-", "_"), "a command's module is named after it"
        m = cli.command_module(name)
        assert callable(m.add_arguments) and callable(m.run), name
        assert m.__doc__ and f"ferviz {name}" in m.__doc__, f"{name}: docstring names the command"
        assert f"{name:<15} ferviz.cli.{mod}" in cli.__doc__, f"{name} missing from the package docstring"


def test_the_listed_commands_are_the_table():
    r = subprocess.run([sys.executable, "-m", "ferviz", "--help"], cwd=ROOT, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0
    listed = r.stdout.split("positional arguments:")[1]
    for name, (_, help) in cli.COMMANDS.items():
        assert re.search(rf"^    {re.escape(name)}\s", listed, re.M), name


@pytest.mark.parametrize("name", list(cli.COMMANDS))
def test_every_command_has_a_working_help(name, capsys):
    assert main([name, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: ferviz {name}") and cli.COMMANDS[name][1] in " ".join(out.split())


def test_parsing_imports_no_tensorflow_pandas_or_matplotlib():
    code = ("import sys\nfrom ferviz.cli import COMMANDS, build_parser, main\n"
            "build_parser(COMMANDS)\n"
            "assert all(main([c, '--help']) == 0 for c in COMMANDS)\n"
            "heavy = [m for m in ('tensorflow', 'keras', 'pandas', 'matplotlib', 'sklearn', 'umap')\n"
            "         if m in sys.modules]\n"
            "assert not heavy, heavy\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-1500:]


def test_unknown_command_and_missing_command_are_usage_errors(capsys):
    assert main(["frobnicate"]) == 2
    assert "invalid choice: 'frobnicate'" in capsys.readouterr().err
    assert main([]) == 2
    assert main(["--help"]) == 0 and "label-issues" in capsys.readouterr().out


def test_progress_closes_its_bar_when_the_work_fails(monkeypatch):
    from ferviz.cli.common import progress

    closed = []
    import tqdm

    class Bar:
        n = 0

        def __init__(self, *a, **k):
            pass

        def set_postfix_str(self, *a, **k):
            pass

        def refresh(self):
            pass

        def close(self):
            closed.append(True)

    monkeypatch.setattr(tqdm, "tqdm", Bar)
    with pytest.raises(RuntimeError):
        with progress("work") as update:
            update(0.5, "half")
            raise RuntimeError("boom")
    assert closed == [True]
    with progress("nothing", enabled=False) as update:
        update(1.0)  # a no-op, no bar
    assert closed == [True]
