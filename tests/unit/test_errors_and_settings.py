"""One error family (every ferviz exception derives from FervizError, the CLI catches the base once)
and one settings module (FERVIZ_* is read from the environment only in ferviz/config.py, and every
setting is documented)."""
from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import pytest

import ferviz
from ferviz import config
from ferviz.errors import DataError, FervizError, NotFoundError

PACKAGE = Path(ferviz.__file__).resolve().parent


def _modules():
    for m in pkgutil.walk_packages(ferviz.__path__, "ferviz."):
        if m.name.endswith("__main__"):
            continue
        yield importlib.import_module(m.name)


def test_every_exception_class_in_ferviz_derives_from_ferviz_error():
    found = {}
    for mod in _modules():
        for name, obj in vars(mod).items():
            if inspect.isclass(obj) and issubclass(obj, BaseException) and obj.__module__.startswith("ferviz"):
                found[f"{obj.__module__}.{obj.__qualname__}"] = obj
    assert len(found) >= 10, sorted(found)  # the family, plus ui's Busy
    strays = sorted(k for k, cls in found.items() if not issubclass(cls, FervizError))
    assert not strays, strays


def test_not_found_reads_like_a_sentence_not_a_quoted_key():
    assert str(NotFoundError("no image with id '7' in PrivateTest")) == "no image with id '7' in PrivateTest"
    assert isinstance(NotFoundError("x"), KeyError) and isinstance(DataError("x"), ValueError)


@pytest.mark.parametrize("exc", [DataError("bad row 3"), NotFoundError("no image 'x'")])
def test_the_cli_catches_the_base_once(monkeypatch, capsys, exc):
    from ferviz import cli

    def boom(args):
        raise exc

    monkeypatch.setattr(cli, "command_module", lambda name: type("M", (), {
        "add_arguments": staticmethod(lambda p: None), "run": staticmethod(boom)}))
    assert cli.main(["models"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"ferviz models: error: {exc}", err


def test_the_cli_does_not_hide_a_programming_error(monkeypatch):
    from ferviz import cli

    def boom(args):
        raise ZeroDivisionError("a bug, with its traceback")

    monkeypatch.setattr(cli, "command_module", lambda name: type("M", (), {
        "add_arguments": staticmethod(lambda p: None), "run": staticmethod(boom)}))
    with pytest.raises(ZeroDivisionError):
        cli.main(["models"])


def _environment_reads(tree: ast.AST):
    """Names of FERVIZ_* variables read from os.environ / os.getenv in a module."""
    for node in ast.walk(tree):
        if isinstance(node, (ast.Call, ast.Subscript)):
            src = ast.unparse(node)
            if re.search(r"\b(environ|getenv)\b", src):
                yield from re.findall(r"FERVIZ_[A-Z_]+", src)


def test_ferviz_settings_are_read_only_in_config():
    readers = {}
    for path in PACKAGE.rglob("*.py"):
        names = set(_environ_reads_of(path))
        if names:
            readers[str(path.relative_to(PACKAGE))] = names
    assert set(readers) == {"config.py"}, readers
    assert readers["config.py"] == {s.name for s in config.SETTINGS}  # each one read, each one listed


def _environ_reads_of(path: Path):
    text = path.read_text()
    yield from _environment_reads(ast.parse(text))
    # config reads through a helper taking the name: _env("FERVIZ_X"), _flag(...), _number(...)
    if path.name == "config.py":
        yield from re.findall(r'_(?:env|flag|number)\("(FERVIZ_[A-Z_]+)"', text)
        yield from re.findall(r'os\.environ\.get\("(FERVIZ_[A-Z_]+)"', text)


def test_every_setting_is_documented_in_the_settings_table():
    doc = (config.PROJECT_ROOT / "docs" / "settings.md").read_text()
    rows = dict(re.findall(r"^\| `(FERVIZ_[A-Z_]+)` \| (.+?) \|", doc, re.M))
    assert set(rows) == {s.name for s in config.SETTINGS}
    mentioned = set()
    for path in PACKAGE.rglob("*.py"):
        mentioned |= set(re.findall(r"FERVIZ_[A-Z_]+[A-Z]", path.read_text()))
    assert mentioned <= rows.keys(), mentioned - rows.keys()


def test_settings_follow_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("FERVIZ_SHARED", "1")
    monkeypatch.delenv("FERVIZ_MAX_UPLOAD_MB", raising=False)
    assert config.shared() and config.max_upload_mb() == 5.0
    monkeypatch.setenv("FERVIZ_MAX_UPLOAD_MB", "12.5")
    assert config.max_upload_mb() == 12.5
    monkeypatch.setenv("FERVIZ_XRAI_SLOTS", "nonsense")
    assert config.xrai_slots() == 1
    monkeypatch.setenv("FERVIZ_DATA", str(tmp_path / "fer2013.csv"))
    assert config.data_path() == tmp_path / "fer2013.csv"
    monkeypatch.setenv("FERVIZ_MODELS", f"{tmp_path}/a{__import__('os').pathsep}{tmp_path}/b")
    assert config.extra_model_dirs() == [tmp_path / "a", tmp_path / "b"]


def test_the_app_heads_each_error_by_its_subject(monkeypatch):
    from ferviz.errors import ModelError, PhotoError, TrainError
    from ferviz.ui import context

    shown = []
    monkeypatch.setattr(context.st, "error", shown.append)
    for exc in (DataError("bad row"), TrainError("no GPU"), PhotoError("not an image"), NotFoundError("no id 'x'"),
                ModelError("not 7 classes"), FervizError("other")):
        context.show_error(exc)
    assert shown == ["**Data problem:** bad row", "**Model problem:** no GPU", "**Photo problem:** not an image",
                     "**Not found:** no id 'x'", "**Model problem:** not 7 classes", "**Problem:** other"]
