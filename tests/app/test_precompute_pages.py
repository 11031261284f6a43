"""precompute --what slices,stress fills exactly what the Failure slices and Stress test pages
read: after it, the stress page has nothing left to run and the error clusters show at once."""
from __future__ import annotations

import json

from ferviz.analysis import stress
from ferviz.analysis.attributes import attributes_cache_path
from ferviz.analysis.embedding import features_cache_path
from ferviz.cli import main
from ferviz.data.splits import load_all
from ferviz.models import load_card
from tests.app.helpers import app_on, page, write_fer_csv, tiny_rows


def test_precompute_slices_and_stress_leave_the_pages_nothing_to_compute(tiny_env, monkeypatch, tmp_path, capsys):
    csv = tmp_path / "fer2013.csv"  # data of its own: no other test's cache entries
    write_fer_csv(csv, tiny_rows()[::-1])
    card_path = f"{tiny_env['models']}/tiny_a.json"
    argv = ["precompute", "--models", card_path, "--data", str(csv), "--splits", "PrivateTest",
            "--what", "slices,stress", "--workers", "0", "--quiet"]
    assert main(argv) == 0
    first = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert first["failed"] == 0 and first["computed"] >= 66 + 3  # 66 copies, attributes, features, landmarks
    split = load_all(str(csv))["PrivateTest"]
    card = load_card(card_path)
    assert stress.cached_count(card, split) == (66, 66)
    assert attributes_cache_path(split.data_hash).is_file() and features_cache_path(card, split).is_file()
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["computed"] == 0

    at = page(app_on({"data": str(csv), "models": tiny_env["models"]}, monkeypatch).run(), "stress")
    assert not at.exception, [e.value for e in at.exception]
    assert not [b for b in at.button if b.key == "st_run_tiny_a"]  # nothing left to run
    fig = json.loads(next(el.proto.spec for el in at.get("plotly_chart")))
    assert {t["name"] for t in fig["data"]} >= {"mouth occluded", "blur", "mirror"}
    at = page(app_on({"data": str(csv), "models": tiny_env["models"]}, monkeypatch).run(), "slices")
    assert not at.exception, [e.value for e in at.exception]
    assert not [b for b in at.button if b.key == "sl_clusters_go"]  # the clusters show at once


def test_a_shared_instance_shows_cached_results_instead_of_starting_heavy_work(tiny_env, monkeypatch, tmp_path):
    csv = tmp_path / "fer2013.csv"
    rows = tiny_rows()
    write_fer_csv(csv, rows[1:] + rows[:1])  # data of its own: nothing precomputed
    monkeypatch.setenv("FERVIZ_SHARED", "1")
    at = page(app_on({"data": str(csv), "models": tiny_env["models"]}, monkeypatch).run(), "stress")
    assert not at.exception, [e.value for e in at.exception]
    assert not [b for b in at.button if b.key == "st_run_tiny_a"]
    assert any("precompute --models tiny_a --what stress" in i.value for i in at.info)
    at = page(app_on({"data": str(csv), "models": tiny_env["models"]}, monkeypatch).run(), "slices")
    assert not at.exception, [e.value for e in at.exception]
    assert not [b for b in at.button if b.key == "sl_clusters_go"]
    assert any("--what slices" in i.value for i in at.info)
