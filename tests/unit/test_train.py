"""The training command on tiny synthetic FER2013: every architecture, resume, bad input."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ferviz.models.architectures import ARCHITECTURES
from ferviz.data.splits import DataError
from ferviz.analysis.evaluation import evaluate
from ferviz.data.splits import load_fer2013
from ferviz.models import load_card, load_model
from ferviz.cache import file_hash
from ferviz.models.training import Recipe, TrainError, cosine_lr, train


@pytest.fixture(scope="module")
def tiny_csv(tmp_path_factory):
    rng = np.random.default_rng(1)
    path = tmp_path_factory.mktemp("tiny") / "fer2013.csv"
    rows = ["emotion,pixels,Usage"]
    for i in range(21):
        usage = ("Training", "PublicTest", "PrivateTest")[i % 3]
        rows.append(f"{i % 7},{' '.join(map(str, rng.integers(0, 256, 2304)))},{usage}")
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_each_architecture_trains_saves_reloads_evaluates(tmp_path, tiny_csv, arch):
    recipe = Recipe(arch=arch, epochs=1, batch_size=32, augment=arch == "baseline_cnn")
    card = train(recipe, tmp_path, data=str(tiny_csv), verbose=0)
    for suffix in (".keras", ".json", ".history.csv", ".curves.png"):
        assert (tmp_path / f"{arch}{suffix}").is_file()
    card = load_card(tmp_path / f"{arch}.json")
    model = load_model(card)  # safe mode, checked against the card
    ev = evaluate(card, load_fer2013(tiny_csv, "PrivateTest"), model=model, use_cache=False)
    assert ev.probs.shape == (7, 7)
    assert card.metrics["PrivateTest"]["accuracy"] == pytest.approx(ev.accuracy)
    assert card.training["recipe"]["arch"] == arch and card.training["epochs_run"] == 1
    assert "python -m ferviz" in card.metrics["command"]
    assert not (tmp_path / f".train-{arch}").exists()  # checkpoints cleaned after success


class _Interrupt(Exception):
    pass


def _stop_after_second_epoch():
    """A callback that interrupts training at the end of epoch 2, like a killed process."""
    import keras

    class StopAfter(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise _Interrupt()
    return StopAfter()


def test_resume_continues_instead_of_restarting(tmp_path, tiny_csv):
    recipe = Recipe(arch="baseline_cnn", epochs=4, batch_size=32, augment=False, patience=50)
    with pytest.raises(_Interrupt):
        train(recipe, tmp_path, data=str(tiny_csv), verbose=0, extra_callbacks=[_stop_after_second_epoch()])
    partial = pd.read_csv(tmp_path / ".train-baseline_cnn" / "history.csv")
    assert list(partial["epoch"]) == [0, 1]
    card = train(recipe, tmp_path, data=str(tiny_csv), verbose=0)
    hist = pd.read_csv(tmp_path / "baseline_cnn.history.csv")
    assert list(hist["epoch"]) == [0, 1, 2, 3]  # continued at epoch 2, not restarted at 0
    assert card.training["epochs_run"] == 4


def test_finish_writes_the_best_checkpoint_of_an_interrupted_run(tmp_path, tiny_csv):
    recipe = Recipe(arch="baseline_cnn", epochs=5, batch_size=32, augment=False, patience=50)
    with pytest.raises(_Interrupt):
        train(recipe, tmp_path, data=str(tiny_csv), verbose=0, extra_callbacks=[_stop_after_second_epoch()])
    card = train(recipe, tmp_path, data=str(tiny_csv), verbose=0, finish=True,
                 command="python -m ferviz train --finish")
    assert card.training["epochs_run"] == 2 and (tmp_path / "baseline_cnn.keras").is_file()
    assert card.training["finish_command"] == "python -m ferviz train --finish"
    assert card.training["stopped"].startswith("interrupted after 2 of 5 epochs")
    with pytest.raises(TrainError, match="no interrupted run"):
        train(recipe, tmp_path, name="other", data=str(tiny_csv), finish=True)


def test_bad_input_messages(tmp_path, tiny_csv):
    with pytest.raises(TrainError, match="unknown architecture 'resnet9000'"):
        train(Recipe(arch="resnet9000"), tmp_path, data=str(tiny_csv))
    with pytest.raises(DataError, match="no such file"):
        train(Recipe(arch="baseline_cnn", epochs=1), tmp_path, data=str(tmp_path / "missing.csv"))
    train(Recipe(arch="baseline_cnn", epochs=1, batch_size=32, augment=False), tmp_path,
          data=str(tiny_csv), verbose=0)
    with pytest.raises(TrainError, match="a different model named 'baseline_cnn' is already there"):
        train(Recipe(arch="baseline_cnn", epochs=2), tmp_path, data=str(tiny_csv))
    with pytest.raises(TrainError, match="already trained; pass --overwrite"):
        train(Recipe(arch="baseline_cnn", epochs=1, batch_size=32, augment=False), tmp_path, data=str(tiny_csv))
    (tmp_path / "file").write_text("x")
    with pytest.raises(TrainError, match="is not a folder"):
        train(Recipe(arch="baseline_cnn"), tmp_path / "file", data=str(tiny_csv))


def test_update_card_remeasures_after_setting_tta(tmp_path, tiny_csv, capsys):
    import json

    from ferviz.cli import main

    card = train(Recipe(arch="baseline_cnn", epochs=1, batch_size=32, augment=False), tmp_path,
                 data=str(tiny_csv), verbose=0)
    d = json.loads(card.path.read_text())
    d["tta"] = "mirror"
    d["metrics"]["PrivateTest"]["accuracy"] = 0.5  # stale on purpose (no k/7 equals it)
    card.path.write_text(json.dumps(d))
    assert main(["evaluate", "--model", str(card.path), "--data", str(tiny_csv), "--update-card"]) == 0
    updated = load_card(card.path)
    expected = evaluate(updated, load_fer2013(tiny_csv, "PrivateTest"), use_cache=False).accuracy
    assert updated.tta == "mirror" and updated.metrics["PrivateTest"]["accuracy"] == pytest.approx(expected)
    assert updated.training["recipe"]["arch"] == "baseline_cnn"  # the rest of the card is kept


def test_fine_tune_from_a_trained_model_with_cosine_schedule_and_less_dropout(tmp_path, tiny_csv):
    import keras

    first = train(Recipe(arch="baseline_cnn", epochs=1, batch_size=32, augment=False), tmp_path,
                  data=str(tiny_csv), verbose=0)
    start = keras.models.load_model(tmp_path / "baseline_cnn.keras", compile=False).get_weights()
    recipe = Recipe(arch="baseline_cnn", epochs=2, batch_size=32, augment=False, learning_rate=1e-3,
                    schedule="cosine", dropout=0.5, init=str(tmp_path / "baseline_cnn.keras"))
    card = train(recipe, tmp_path, name="ft", title="Baseline, fine-tuned", data=str(tiny_csv), verbose=0)
    assert card.name == "Baseline, fine-tuned"
    hist = pd.read_csv(tmp_path / "ft.history.csv")
    assert hist["learning_rate"].tolist() == pytest.approx([1e-3, 5e-4])  # cosine over 2 epochs
    init = card.training["init"]
    assert init["sha256"] == file_hash(tmp_path / "baseline_cnn.keras")
    assert init["command"] == first.training["command"] and init["epochs_run"] == 1
    model = keras.models.load_model(tmp_path / "ft.keras", compile=False)
    assert model.get_layer("dropout").rate == pytest.approx(0.25)
    # it started from the first model's weights: with the learning rate at 0 it keeps them exactly
    card0 = train(Recipe(arch="baseline_cnn", epochs=1, batch_size=32, augment=False, learning_rate=0.0,
                         init=str(tmp_path / "baseline_cnn.keras")), tmp_path, name="same",
                  data=str(tiny_csv), verbose=0)
    same = keras.models.load_model(tmp_path / "same.keras", compile=False).get_weights()
    trainable = {id(v) for v in model.trainable_weights}
    for w0, w1, v in zip(start, same, model.weights):
        if id(v) in trainable:
            np.testing.assert_array_equal(w0, w1)
    assert card0.metrics["PublicTest"]["accuracy"] == pytest.approx(first.metrics["PublicTest"]["accuracy"])


def test_cosine_schedule_values():
    f = cosine_lr(0.01, 4)
    assert [round(f(e), 6) for e in range(4)] == [0.01, 0.008536, 0.005, 0.001464]


def test_fine_tune_bad_input(tmp_path, tiny_csv):
    with pytest.raises(TrainError, match="no such model file"):
        train(Recipe(arch="vgg_small", init=str(tmp_path / "nope.keras")), tmp_path, data=str(tiny_csv))
    with pytest.raises(TrainError, match="unknown schedule"):
        train(Recipe(arch="vgg_small", schedule="linear"), tmp_path, data=str(tiny_csv))
    with pytest.raises(TrainError, match="dropout"):
        train(Recipe(arch="vgg_small", dropout=3.0), tmp_path, data=str(tiny_csv))
    train(Recipe(arch="baseline_cnn", epochs=1, batch_size=32, augment=False), tmp_path,
          data=str(tiny_csv), verbose=0)
    with pytest.raises(TrainError, match="not a vgg_small model"):
        train(Recipe(arch="vgg_small", epochs=1, batch_size=32, init=str(tmp_path / "baseline_cnn.keras")),
              tmp_path, data=str(tiny_csv), verbose=0)


def test_distillation_targets_mix_labels_with_the_teachers(tmp_path, tiny_csv):
    from dataclasses import replace

    from ferviz.analysis.evaluation import predict_probs
    from ferviz.models.training import teacher_targets

    train(Recipe(arch="baseline_cnn", epochs=1, batch_size=32, augment=False), tmp_path,
          data=str(tiny_csv), verbose=0)
    teacher = tmp_path / "baseline_cnn.keras"
    split = load_fer2013(tiny_csv, "Training")
    recipe = Recipe(arch="baseline_cnn", epochs=1, batch_size=32, augment=False, teachers=f"{teacher},{teacher}",
                    soft=0.25)
    y = teacher_targets(recipe, split)
    card = load_card(tmp_path / "baseline_cnn.json")
    assert card.tta is None  # teachers still average with the mirror image
    p = predict_probs(load_model(card), replace(card, tta="mirror"), split.images)
    np.testing.assert_allclose(y, 0.75 * np.eye(7)[split.labels] + 0.25 * p, atol=1e-6)
    np.testing.assert_allclose(y.sum(1), 1.0, atol=1e-5)
    student = train(recipe, tmp_path, name="student", data=str(tiny_csv), verbose=0)
    assert [t["sha256"] for t in student.training["teachers"]] == [file_hash(teacher)] * 2
    with pytest.raises(TrainError, match="card beside it"):
        train(Recipe(arch="baseline_cnn", teachers=str(tmp_path / "baseline_cnn.history.csv")), tmp_path,
              name="x", data=str(tiny_csv))
    with pytest.raises(TrainError, match="--soft"):
        train(Recipe(arch="baseline_cnn", teachers=str(teacher), soft=2.0), tmp_path, name="x", data=str(tiny_csv))


def test_resume_restores_the_checkpoint_and_early_stopping_counters(tmp_path, tiny_csv):
    import json

    import keras

    recipe = Recipe(arch="baseline_cnn", epochs=6, batch_size=32, augment=False, patience=3)
    with pytest.raises(_Interrupt):
        train(recipe, tmp_path, data=str(tiny_csv), verbose=0, extra_callbacks=[_stop_after_second_epoch()])
    work = tmp_path / ".train-baseline_cnn"
    state = json.loads((work / "state.json").read_text())
    partial = pd.read_csv(work / "history.csv")
    assert state["callbacks"]["checkpoint"]["best"] == pytest.approx(partial["val_accuracy"].max())
    assert state["callbacks"]["early_stopping"]["wait"] in (0, 1)
    # pretend the best epoch so far was unbeatable and patience is nearly used up: a resumed run
    # must keep that checkpoint and stop after one more epoch (a reset would run on and overwrite)
    state["callbacks"]["checkpoint"]["best"] = 2.0
    state["callbacks"]["early_stopping"].update(best=2.0, wait=2)
    (work / "state.json").write_text(json.dumps(state))
    before = keras.models.load_model(work / "best.keras", compile=False).get_weights()
    card = train(recipe, tmp_path, data=str(tiny_csv), verbose=0)
    assert card.training["epochs_run"] == 3
    after = keras.models.load_model(tmp_path / "baseline_cnn.keras", compile=False).get_weights()
    for a, b in zip(before, after):
        np.testing.assert_array_equal(a, b)


def test_a_crash_after_fitting_finishes_on_rerun_without_training_again(tmp_path, tiny_csv, monkeypatch):
    import ferviz.analysis.evaluation

    recipe = Recipe(arch="baseline_cnn", epochs=2, batch_size=32, augment=False)
    real = ferviz.analysis.evaluation.card_metrics

    def crash(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(ferviz.analysis.evaluation, "card_metrics", crash)
    with pytest.raises(KeyboardInterrupt):
        train(recipe, tmp_path, data=str(tiny_csv), verbose=0)
    assert (tmp_path / "baseline_cnn.keras").is_file() and not (tmp_path / "baseline_cnn.json").exists()
    monkeypatch.setattr(ferviz.analysis.evaluation, "card_metrics", real)
    card = train(recipe, tmp_path, data=str(tiny_csv), verbose=0, command="python -m ferviz train x")
    assert list(pd.read_csv(tmp_path / "baseline_cnn.history.csv")["epoch"]) == [0, 1]  # not refitted
    assert card.training["epochs_run"] == 2 and card.metrics["PrivateTest"]["n"] == 7
    assert card.training["command"] != "python -m ferviz train x"  # the first launch's command is kept


def test_failed_starts_leave_nothing_that_blocks_the_corrected_command(tmp_path, tiny_csv):
    train(Recipe(arch="baseline_cnn", epochs=1, batch_size=32, augment=False), tmp_path,
          data=str(tiny_csv), verbose=0)
    with pytest.raises(TrainError, match="not a vgg_small model"):
        train(Recipe(arch="vgg_small", epochs=1, batch_size=32, init=str(tmp_path / "baseline_cnn.keras")),
              tmp_path, data=str(tiny_csv), verbose=0)
    assert not (tmp_path / ".train-vgg_small").exists()
    with pytest.raises(TrainError, match="no interrupted run"):
        train(Recipe(arch="vgg_small"), tmp_path, data=str(tiny_csv), finish=True)
    assert not (tmp_path / ".train-vgg_small").exists()
    (tmp_path / "orphan.keras").write_bytes(b"not mine")
    with pytest.raises(TrainError, match="a model without a card is already there"):
        train(Recipe(arch="baseline_cnn", epochs=1), tmp_path, name="orphan", data=str(tiny_csv))


def test_a_missing_test_split_is_reported_before_training(tmp_path, tiny_csv):
    lines = tiny_csv.read_text().splitlines()
    no_private = tmp_path / "no_private.csv"
    no_private.write_text("\n".join(line for line in lines if not line.endswith("PrivateTest")) + "\n")
    with pytest.raises(DataError, match="PrivateTest"):
        train(Recipe(arch="baseline_cnn", epochs=1), tmp_path / "out", data=str(no_private))
    assert not (tmp_path / "out" / ".train-baseline_cnn").exists()


def test_mixed_precision_models_are_saved_in_float32():
    import keras

    from ferviz.models.architectures import build
    from ferviz.models.training import float32_copy

    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        mixed = build("baseline_cnn", (48, 48, 1))
    finally:
        keras.mixed_precision.set_global_policy(previous)
    assert any(layer.dtype_policy.name == "mixed_float16" for layer in mixed.layers)
    clean = float32_copy(mixed, Recipe(arch="baseline_cnn"))
    assert all(layer.dtype_policy.name == "float32" for layer in clean.layers)
    x = np.random.default_rng(0).random((4, 48, 48, 1), dtype=np.float32)
    np.testing.assert_allclose(clean.predict(x, verbose=0), mixed.predict(x, verbose=0), atol=1e-2)
    assert float32_copy(clean, Recipe(arch="baseline_cnn")) is clean


def test_same_seed_same_model(tmp_path, tiny_csv):
    import keras

    recipe = Recipe(arch="baseline_cnn", epochs=2, batch_size=4, augment=True)
    weights = []
    for run in ("a", "b"):
        train(recipe, tmp_path / run, data=str(tiny_csv), verbose=0)
        weights.append(keras.models.load_model(tmp_path / run / "baseline_cnn.keras", compile=False).get_weights())
    for a, b in zip(*weights):
        np.testing.assert_array_equal(a, b)


def test_train_from_the_command_line_records_its_command(tmp_path, tiny_csv, capsys):
    from ferviz.cli import main

    args = ["train", "--arch", "baseline_cnn", "--epochs", "1", "--batch-size", "32", "--no-augment",
            "--data", str(tiny_csv), "--out", str(tmp_path / "m")]
    assert main(args) == 0
    card = load_card(tmp_path / "m" / "baseline_cnn.json")
    assert card.training["command"] == "python -m ferviz " + " ".join(args)
    assert card.metrics["command"] == f"python -m ferviz evaluate --model {tmp_path / 'm' / 'baseline_cnn.json'} --split PrivateTest"
    assert "PrivateTest" in capsys.readouterr().out
    assert main(["train", "--arch", "resnet9000", "--data", str(tiny_csv)]) == 2
    assert "ferviz train: error: unknown architecture 'resnet9000'" in capsys.readouterr().err


def test_tta_auto_picks_the_best_mode_on_publictest(tmp_path, tiny_csv, capsys):
    from dataclasses import replace

    from ferviz.cli import main

    args = ["train", "--arch", "baseline_cnn", "--epochs", "1", "--batch-size", "32", "--no-augment",
            "--data", str(tiny_csv), "--out", str(tmp_path), "--tta", "auto"]
    assert main(args) == 0
    card = load_card(tmp_path / "baseline_cnn.json")
    sel = card.training["tta_selection"]
    assert sel["split"] == "PublicTest" and set(sel["accuracy"]) == {"none", "mirror", "mirror+shift"}
    public = load_fer2013(tiny_csv, "PublicTest")
    model = load_model(card)
    for mode, acc in sel["accuracy"].items():
        ev = evaluate(replace(card, tta=None if mode == "none" else mode), public, model=model, use_cache=False)
        assert acc == pytest.approx(ev.accuracy, abs=1e-6)
    best = max(sel["accuracy"].values())
    assert sel["accuracy"][sel["chosen"]] == best
    assert list(sel["accuracy"]).index(sel["chosen"]) == min(
        i for i, v in enumerate(sel["accuracy"].values()) if v == best)  # ties: the fewest views
    assert card.tta == (None if sel["chosen"] == "none" else sel["chosen"])
    assert card.training["recipe"]["tta"] == "auto"
    # a bare --tta still means mirror, as the shipped cards' commands record it
    assert main(args[:-1] + ["--name", "m"]) == 0
    m = load_card(tmp_path / "m.json")
    assert m.tta == "mirror" and m.training["recipe"]["tta"] is True and "tta_selection" not in m.training
    with pytest.raises(TrainError, match="--tta takes"):
        train(Recipe(arch="baseline_cnn", tta="ten-crop"), tmp_path, data=str(tiny_csv))


def test_a_model_learns_the_datasets_classes(tmp_path):
    """An eight-class folder dataset (contempt too) trains an eight-class model whose card lists its
    classes, and one without neutral a seven-class model without it; a class with no Training
    faces is refused before anything starts; FER+ labels on image folders are refused (DataError)."""
    from ferviz.data.splits import load_all
    from ferviz.labels import EXPRESSIONS
    from tests.class_sets import write_folders

    rng = np.random.default_rng(2)
    faces, labels = rng.integers(0, 256, (16, 48, 48)).astype(np.uint8), np.arange(16) % 8
    for folder in ("train", "val", "test"):
        write_folders(tmp_path / "ds", faces, labels, {7: "contempt"}, split_folder=folder)
    card = train(Recipe(arch="baseline_cnn", epochs=1, batch_size=8), tmp_path / "out", data=str(tmp_path / "ds"))
    assert card.classes == EXPRESSIONS and load_model(card).output_shape[-1] == 8
    test = load_all(tmp_path / "ds")["PrivateTest"]
    ev = evaluate(card, test)
    assert ev.square and ev.matrix().shape == (8, 8) and ev.n_outside == 0
    assert card.metrics["PrivateTest"]["accuracy"] == pytest.approx(ev.accuracy, abs=1e-6)

    keep = labels != 6  # no neutral: a seven-class model of the other seven
    for folder in ("train", "val", "test"):
        write_folders(tmp_path / "no_neutral", faces[keep], labels[keep], {7: "contempt"}, split_folder=folder)
    card = train(Recipe(arch="baseline_cnn", epochs=1, batch_size=8), tmp_path / "out2",
                 data=str(tmp_path / "no_neutral"))
    assert card.classes == tuple(c for c in EXPRESSIONS if c != "neutral")

    only_test = labels == 7  # contempt in the test split only: nothing to learn it from
    write_folders(tmp_path / "gap", faces[~only_test], labels[~only_test], {}, split_folder="train")
    for folder in ("val", "test"):
        write_folders(tmp_path / "gap", faces, labels, {7: "contempt"}, split_folder=folder)
    with pytest.raises(TrainError, match="its Training split has no contempt faces"):
        train(Recipe(arch="baseline_cnn", epochs=1), tmp_path / "out3", data=str(tmp_path / "gap"))
    assert not (tmp_path / "out3").exists()
    with pytest.raises(DataError, match="FER\\+ votes need the original fer2013.csv"):
        train(Recipe(arch="baseline_cnn", epochs=1), tmp_path / "out4", data=str(tmp_path / "ds"), labels="ferplus")


def test_teachers_with_other_classes(tmp_path, tiny_csv):
    """A teacher with contempt too gives its seven FER2013 probabilities, renormalised; one that
    lacks some of the seven is refused, naming them."""
    import json
    from dataclasses import replace

    from ferviz.analysis.evaluation import predict_probs
    from ferviz.models.training import teacher_targets
    from tests.class_sets import AFFECTNET_ORDER
    from tests.unit.tiny_models import brightness_model

    def save(stem, classes):
        brightness_model(np.linspace(0.1, 0.9, len(classes)).astype(np.float32)).save(tmp_path / f"{stem}.keras")
        (tmp_path / f"{stem}.json").write_text(json.dumps({
            "name": stem, "file": f"{stem}.keras", "classes": list(classes),
            "input": {"height": 48, "width": 48, "channels": 1, "scale": [0, 1]}}))
        return tmp_path / f"{stem}.keras"

    split = load_fer2013(tiny_csv, "Training")
    eight = save("eight", AFFECTNET_ORDER)
    y = teacher_targets(Recipe(arch="baseline_cnn", teachers=str(eight), soft=1.0), split)
    card = load_card(tmp_path / "eight.json")
    p = predict_probs(load_model(card), replace(card, tta="mirror"), split.images)
    assert p.shape == (len(split), 8) and p[:, 7].min() > 0
    np.testing.assert_allclose(y, p[:, :7] / p[:, :7].sum(axis=1, keepdims=True), atol=1e-6)
    three = save("three", ("happy", "sad", "contempt"))
    with pytest.raises(TrainError, match=r"three.keras: cannot teach the dataset's classes \(angry, disgust, fear, "
                                         r"happy, sad, surprise, neutral\): it lacks angry, disgust, fear, surprise, "
                                         "neutral"):
        teacher_targets(Recipe(arch="baseline_cnn", teachers=str(three)), split)
