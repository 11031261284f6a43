"""The training command on tiny synthetic FER2013: every architecture, resume, bad input."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ferviz.architectures import ARCHITECTURES
from ferviz.data import DataError
from ferviz.evaluation import evaluate
from ferviz.data import load_fer2013
from ferviz.models import load_card, load_model
from ferviz.cache import file_hash
from ferviz.train import Recipe, TrainError, cosine_lr, train


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
    card = train(recipe, tmp_path, data=str(tiny_csv), verbose=0, finish=True)
    assert card.training["epochs_run"] == 2 and (tmp_path / "baseline_cnn.keras").is_file()
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
    d["metrics"]["PrivateTest"]["accuracy"] = -1.0  # stale on purpose
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

    from ferviz.evaluation import predict_probs
    from ferviz.train import teacher_targets

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
