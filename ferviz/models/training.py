"""Train an architecture on FER2013 Training, validate on PublicTest, report on PrivateTest.

Reproducible (seeded), resumable (a backup each epoch: rerunning the same command continues),
GPU with mixed precision when present. Writes `<name>.keras`, its card `<name>.json`,
`<name>.history.csv` and `<name>.curves.png` into the output folder.
"""
from __future__ import annotations

import json
import math
import platform
import shlex
import shutil
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np

from ..data.splits import load_all
from ..errors import TrainError
from ..labels import EMOTIONS, NAMES
from . import TTA_MODES, InputSpec, ModelCard, ModelError, architectures

SCHEDULES = ("plateau", "cosine")
TTA_CHOICES = (False, True, None, "mirror", "mirror+shift", "auto")


@dataclass(frozen=True)
class Recipe:
    """Everything that determines a training run (recorded in the card)."""

    arch: str
    epochs: int = 60
    batch_size: int = 128
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    augment: bool = True
    class_weights: bool = False
    tta: bool | str = False  # True = "mirror"; "mirror+shift"; "auto": the best on PublicTest
    patience: int = 12
    seed: int = 1234
    label_smoothing: float = 0.0
    dropout: float = 1.0  # scale on the architecture's dropout rates
    schedule: str = "plateau"  # "plateau": halve on a PublicTest loss plateau; "cosine": cosine to 0
    init: str | None = None  # start from this trained model's weights (fine-tuning)
    teachers: str | None = None  # comma-separated model files whose mean prediction is distilled
    soft: float = 0.5  # weight of the teachers' probabilities in the targets (with teachers)

    def augmentation(self) -> str:
        return ("horizontal flip, rotation ±10°, zoom ±10%, shift ±10%" if self.augment else "none")


def _augmenter():
    import keras
    from keras import layers

    return keras.Sequential([
        layers.RandomFlip("horizontal"),
        layers.RandomRotation(10 / 360, fill_mode="nearest"),
        layers.RandomZoom(0.1, fill_mode="nearest"),
        layers.RandomTranslation(0.1, 0.1, fill_mode="nearest"),
    ], name="augment")


def _dataset(x, y, batch, *, shuffle: bool, augment: bool, seed: int):
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((x, y))
    if shuffle:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch)
    if augment:
        aug = _augmenter()
        # On a CPU one batch at a time (~35 ms, hidden by prefetch): the random layers share one
        # seed state and parallel calls would hand out its draws in a thread-dependent order, so
        # runs with the same seed would differ. A GPU outruns that (and is not bit-exact anyway).
        gpu = bool(tf.config.list_physical_devices("GPU"))
        ds = ds.map(lambda a, b: (aug(a, training=True), b),
                    num_parallel_calls=tf.data.AUTOTUNE if gpu else None)
    return ds.prefetch(tf.data.AUTOTUNE)


def class_weight_dict(labels: np.ndarray, k: int = len(EMOTIONS)) -> dict[int, float]:
    """Balanced class weights over output positions 0..k-1 (scikit-learn's formula n / (k * count))."""
    from sklearn.utils.class_weight import compute_class_weight

    w = compute_class_weight("balanced", classes=np.arange(k), y=labels)
    return {i: float(v) for i, v in enumerate(w)}


def outputs_of(split) -> tuple[tuple[int, ...], np.ndarray]:
    """The classes a model trained on `split`'s dataset outputs (its classes, vocabulary order) and
    each face's output position (labels are class indices of :data:`ferviz.labels.NAMES`)."""
    ids = tuple(split.class_ids)
    pos = np.full(len(NAMES), -1, np.int64)
    pos[list(ids)] = np.arange(len(ids))
    return ids, pos[split.labels]


def _hardware() -> str:
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        try:
            name = tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU")
        except Exception:
            name = "GPU"
        return f"{name} (mixed precision)"
    import os

    return f"CPU ({os.cpu_count()} cores, {platform.processor() or platform.machine()})"


def check_output(out: Path, name: str, recipe: Recipe, overwrite: bool) -> None:
    """Refuse to overwrite a different model in the output folder."""
    if out.exists() and not out.is_dir():
        raise TrainError(f"{out}: exists and is not a folder")
    card = out / f"{name}.json"
    if not overwrite and not card.exists() and (out / f"{name}.keras").exists() \
            and not _same_run(out / f".train-{name}", recipe):
        raise TrainError(f"{out / (name + '.keras')}: a model without a card is already there; "
                         "choose another --name or pass --overwrite")
    if card.exists() and not overwrite:
        try:
            old = json.loads(card.read_text()).get("training", {}).get("recipe", {})
        except (json.JSONDecodeError, OSError):
            old = {}
        if {**_RECIPE_DEFAULTS, **old} != asdict(recipe):
            raise TrainError(f"{card}: a different model named {name!r} is already there "
                             "(other recipe); choose another --name or pass --overwrite")
        raise TrainError(f"{card}: this model is already trained; pass --overwrite to train it again")


_RECIPE_DEFAULTS = {k: v for k, v in asdict(Recipe(arch="")).items() if k != "arch"}


def _same_run(work: Path, recipe: Recipe) -> bool:
    """Whether ``work`` holds an interrupted run of exactly this recipe."""
    try:
        return json.loads((work / "state.json").read_text()).get("recipe") == asdict(recipe)
    except (OSError, json.JSONDecodeError):
        return False


def cosine_lr(lr0: float, epochs: int) -> Callable[[int], float]:
    """Per-epoch cosine decay from ``lr0`` (epoch 0) towards 0 (after the last epoch)."""
    return lambda epoch, lr=None: float(lr0 * 0.5 * (1 + math.cos(math.pi * epoch / epochs)))


def _check_recipe(recipe: Recipe) -> None:
    if recipe.arch not in architectures.ARCHITECTURES:
        raise TrainError(f"unknown architecture {recipe.arch!r}; choose one of "
                         f"{', '.join(architectures.ARCHITECTURES)}")
    if recipe.epochs < 1 or recipe.batch_size < 1:
        raise TrainError("--epochs and --batch-size must be positive")
    if recipe.schedule not in SCHEDULES:
        raise TrainError(f"unknown schedule {recipe.schedule!r}; choose one of {', '.join(SCHEDULES)}")
    lo, hi = architectures.DROPOUT_SCALES
    if not lo <= recipe.dropout <= hi:
        raise TrainError(f"--dropout is a scale on the designed rates, {lo:g} to {hi:g}; got {recipe.dropout}")
    if recipe.init is not None and not Path(recipe.init).is_file():
        raise TrainError(f"--init {recipe.init}: no such model file")
    for t in _teacher_paths(recipe):
        if not t.is_file() or not t.with_suffix(".json").is_file():
            raise TrainError(f"--teachers: {t} needs to be a model file with its card beside it")
    if recipe.tta not in TTA_CHOICES:
        raise TrainError(f"--tta takes mirror, mirror+shift or auto; got {recipe.tta!r}")
    if not 0.0 <= recipe.soft <= 1.0:
        raise TrainError(f"--soft is a weight between 0 and 1; got {recipe.soft}")


def _teacher_paths(recipe: Recipe) -> list[Path]:
    return [Path(t.strip()) for t in (recipe.teachers or "").split(",") if t.strip()]


def teacher_targets(recipe: Recipe, train_split) -> np.ndarray:
    """Targets mixing one-hot labels with the teachers' mean probabilities on the clean faces.

    Each teacher predicts as its card says (input scaling, class order), averaged with the mirror
    image whatever the card's test-time augmentation (cheap, and keeps reruns exact after a
    card's ``tta`` changes). A teacher must output every class of the dataset; one with more (e.g.
    contempt for FER2013's seven) gives its probabilities of those, renormalised.
    """
    from ..analysis.evaluation import predict_probs
    from ..labels import width
    from . import load_card, load_model

    ids, pos = outputs_of(train_split)
    onehot = np.eye(len(ids), dtype=np.float32)[pos]
    paths = _teacher_paths(recipe)
    if not paths:
        return onehot
    probs = np.zeros_like(onehot)
    for p in paths:
        try:
            card = replace(load_card(p.with_suffix(".json")), tta="mirror")
            lacks = [NAMES[c] for c in ids if c not in card.class_ids]
            if lacks:
                raise ModelError(f"cannot teach the dataset's classes ({', '.join(NAMES[c] for c in ids)}): "
                                 f"it lacks {', '.join(lacks)}")
            q = predict_probs(load_model(card), card, train_split.images,
                              columns=width(card.classes, train_split.classes))[:, list(ids)]
            probs += q / np.maximum(q.sum(axis=1, keepdims=True), 1e-12)
        except (ModelError, OSError) as e:
            raise TrainError(f"--teachers: {p}: {e}") from None
    return (1 - recipe.soft) * onehot + recipe.soft * probs / len(paths)


def _load_init(model, recipe: Recipe) -> None:
    """Copy the weights of ``recipe.init`` into ``model``; refuse another architecture."""
    import keras

    try:
        src = keras.models.load_model(recipe.init, compile=False, safe_mode=True)
    except Exception as e:  # noqa: BLE001 - Keras raises several types for a bad file
        raise TrainError(f"--init {recipe.init}: cannot be read as a Keras model ({e})") from None
    shapes = [w.shape for w in src.get_weights()]
    if shapes != [w.shape for w in model.get_weights()]:
        raise TrainError(f"--init {recipe.init}: not a {recipe.arch} model "
                         f"({src.name}, {src.count_params():,} parameters)")
    model.set_weights(src.get_weights())


def _init_info(path: str) -> dict:
    """What a fine-tuned card records about its starting point: file, hash, how it was made."""
    from ..cache import file_hash

    info = {"file": path, "sha256": file_hash(path)}
    card = Path(path).with_suffix(".json")
    if card.is_file():
        try:
            tr = json.loads(card.read_text()).get("training", {})
            info.update({k: tr[k] for k in ("command", "epochs_run", "wall_time_s", "hardware") if k in tr})
        except (json.JSONDecodeError, OSError):
            pass
    return info


def train(recipe: Recipe, out: str | Path, *, name: str | None = None, title: str | None = None,
          data: str | None = None, labels: str = "fer2013",
          overwrite: bool = False, verbose: int = 2, command: str | None = None,
          extra_callbacks: list | None = None, finish: bool = False) -> ModelCard:
    """Train (or resume) and write the model, card, history and curves; returns the card.

    With ``finish=True`` an interrupted run is not continued: its best checkpoint so far is
    written out as the model (the card records how many epochs ran). The model learns the
    dataset's classes (FER2013's seven; contempt too with ``labels="ferplus"``, FER+'s majority,
    or a folder dataset that has it), which its card lists.
    """
    import keras

    _check_recipe(recipe)
    out = Path(out)
    name = name or recipe.arch
    work = out / f".train-{name}"
    if finish:
        if not (work / "best.keras").is_file() or not (work / "history.csv").is_file():
            raise TrainError(f"{work}: no interrupted run with a checkpoint to finish")
    else:
        check_output(out, name, recipe, overwrite)
    splits = load_all(data, labels=labels)  # DataError if missing or malformed
    for split in ("Training", "PublicTest", "PrivateTest"):
        splits[split]  # noqa: B018 (DataError for a missing split: now, not after hours of training)
    ids, pos = outputs_of(splits["Training"])
    lacking = [NAMES[c] for c in ids if not (pos == ids.index(c)).any()]
    if lacking:
        raise TrainError(f"{splits.path}: its Training split has no {', '.join(lacking)} faces, so a model cannot "
                         "learn that class; leave the class out of the dataset or add Training faces")
    out.mkdir(parents=True, exist_ok=True)
    fresh = not work.exists()
    work.mkdir(exist_ok=True)
    state_file = work / "state.json"
    state = json.loads(state_file.read_text()) if state_file.exists() else {}
    if state and state.get("recipe") != asdict(recipe):
        raise TrainError(f"{work}: holds an interrupted run with another recipe; delete it or "
                         "rerun with the same options")
    if state and state.get("labels", "fer2013") != labels:
        raise TrainError(f"{work}: holds an interrupted run on {state.get('labels', 'fer2013')} labels; rerun "
                         f"with --labels {state.get('labels', 'fer2013')} or delete it")
    state.setdefault("recipe", asdict(recipe))
    state.setdefault("labels", labels)
    state.setdefault("wall_s", 0.0)
    if not finish:
        state.setdefault("command", command)
        hw, here = state.setdefault("hardware", []), _hardware()
        if here not in hw:
            hw.append(here)
    _write_state(state_file, state)
    policy = keras.mixed_precision.global_policy()
    try:
        if not finish and not state.get("fit_done"):
            _fit(recipe, splits, work, state, state_file, verbose, extra_callbacks)
            state["fit_done"] = True
            _write_state(state_file, state)
    except BaseException:
        if fresh and not state.get("epochs_done"):
            shutil.rmtree(work, ignore_errors=True)  # nothing to resume: don't block a corrected rerun
        raise
    finally:
        keras.mixed_precision.set_global_policy(policy)
    return _finish(recipe, out, name, work, state, splits, command if finish else None, title)


def _write_state(path: Path, state: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state))
    tmp.replace(path)


class _StatefulCallbacks:
    """What Keras callbacks forget between ``fit`` calls, kept in the run's state file."""

    FIELDS = {"checkpoint": ("best",), "early_stopping": ("best", "wait"),
              "plateau": ("best", "wait", "cooldown_counter")}

    @staticmethod
    def save(callbacks: dict) -> dict:
        return {k: {f: _plain(getattr(cb, f, None)) for f in _StatefulCallbacks.FIELDS[k]}
                for k, cb in callbacks.items()}

    @staticmethod
    def restore(callbacks: dict, saved: dict) -> None:
        for k, cb in callbacks.items():
            for f, v in saved.get(k, {}).items():
                setattr(cb, f, v)


def _plain(v):
    return None if v is None else (float(v) if np.ndim(v) == 0 and not isinstance(v, int) else v)


def _fit(recipe: Recipe, splits, work: Path, state: dict, state_file: Path, verbose: int,
         extra_callbacks: list | None) -> None:
    """Run (or continue) ``model.fit`` with a backup, best checkpoint and history each epoch."""
    import keras
    import tensorflow as tf

    train_s, val_s = splits["Training"], splits["PublicTest"]
    done = int(state.get("epochs_done", 0))
    # a resumed run is seeded from where it resumes, so it does not replay epoch 0's order
    seed = recipe.seed + 1009 * done
    keras.utils.set_random_seed(seed)
    if tf.config.list_physical_devices("GPU"):
        keras.mixed_precision.set_global_policy("mixed_float16")
    x_tr = train_s.images[..., None].astype(np.float32) / 255.0
    x_va = val_s.images[..., None].astype(np.float32) / 255.0
    ids, _ = outputs_of(train_s)
    model = architectures.build(recipe.arch, (48, 48, 1), num_classes=len(ids), dropout=recipe.dropout)
    if recipe.init and not (work / "backup").exists():
        _load_init(model, recipe)
    opt = (keras.optimizers.Adam(recipe.learning_rate) if recipe.optimizer == "adam"
           else keras.optimizers.SGD(recipe.learning_rate, momentum=0.9, nesterov=True))
    model.compile(opt, keras.losses.CategoricalCrossentropy(label_smoothing=recipe.label_smoothing),
                  metrics=["accuracy"])
    y_tr = teacher_targets(recipe, train_s)
    y_va = keras.utils.to_categorical(outputs_of(val_s)[1], len(ids))

    tracked = {
        "checkpoint": keras.callbacks.ModelCheckpoint(str(work / "best.keras"), monitor="val_accuracy",
                                                      save_best_only=True),
        "early_stopping": keras.callbacks.EarlyStopping(monitor="val_accuracy", patience=recipe.patience),
    }
    if recipe.schedule == "cosine":
        schedule = keras.callbacks.LearningRateScheduler(cosine_lr(recipe.learning_rate, recipe.epochs))
    else:
        schedule = tracked["plateau"] = keras.callbacks.ReduceLROnPlateau(
            monitor="val_loss", factor=0.5, patience=max(2, recipe.patience // 3), min_lr=1e-5)

    class _RunState(keras.callbacks.Callback):
        """Restores the callbacks' counters on resume; records time and counters each epoch."""

        def on_train_begin(self, logs=None):
            _StatefulCallbacks.restore(tracked, state.get("callbacks", {}))

        def on_epoch_begin(self, epoch, logs=None):
            self.t = time.time()

        def on_epoch_end(self, epoch, logs=None):
            state["wall_s"] += time.time() - self.t
            state["epochs_done"] = epoch + 1
            state["callbacks"] = _StatefulCallbacks.save(tracked)
            _write_state(state_file, state)

    callbacks = [
        keras.callbacks.BackupAndRestore(str(work / "backup"), save_freq="epoch"),
        tracked["checkpoint"], schedule, tracked["early_stopping"],
        keras.callbacks.CSVLogger(str(work / "history.csv"), append=True),
        _RunState(),
        *(extra_callbacks or []),
    ]
    cw = class_weight_dict(outputs_of(train_s)[1], len(ids)) if recipe.class_weights else None
    model.fit(_dataset(x_tr, y_tr, recipe.batch_size, shuffle=True, augment=recipe.augment, seed=seed),
              validation_data=_dataset(x_va, y_va, 512, shuffle=False, augment=False, seed=0),
              epochs=recipe.epochs, class_weight=cw, callbacks=callbacks, verbose=verbose)


def float32_copy(model, recipe: Recipe):
    """``model`` with every layer in float32 (a GPU run trains in mixed precision; the shipped
    file must not make CPUs compute in float16)."""
    import keras

    if all(layer.dtype_policy.name == "float32" for layer in model.layers):
        return model
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("float32")
    try:
        clean = architectures.build(recipe.arch, tuple(model.input_shape[1:]), dropout=recipe.dropout)
    finally:
        keras.mixed_precision.set_global_policy(previous)
    clean.set_weights(model.get_weights())
    return clean


def choose_tta(recipe: Recipe, card: ModelCard, public, model) -> tuple[str | None, dict | None]:
    """The card's test-time augmentation: as the recipe says, or with ``tta="auto"`` the mode with
    the best PublicTest accuracy (ties go to fewer views). PrivateTest is never looked at."""
    from ..analysis.evaluation import evaluate

    if recipe.tta != "auto":
        return ("mirror" if recipe.tta is True else (recipe.tta or None)), None
    acc = {}
    for mode in (None, *TTA_MODES):
        ev = evaluate(replace(card, tta=mode), public, model=model, use_cache=False)
        acc[mode or "none"] = round(ev.accuracy, 6)
    best = max(acc, key=lambda k: acc[k])  # first of equals: the cheapest
    return (None if best == "none" else best), {
        "split": public.split, "accuracy": acc, "chosen": best,
        "how": "python -m ferviz train --tta auto: each mode evaluated on PublicTest; "
               "PrivateTest not used for the choice"}


def _finish(recipe, out, name, work, state, splits, finish_command=None, title=None) -> ModelCard:
    """Write the best checkpoint as the model, measure it, write history, curves and the card."""
    import keras
    import pandas as pd

    from ..analysis.evaluation import card_metrics

    final = float32_copy(keras.models.load_model(work / "best.keras", compile=False), recipe)
    final.save(out / f"{name}.keras")
    card = ModelCard(
        name=title or (f"{name} ({recipe.arch})" if name != recipe.arch else _display(recipe.arch)),
        file=f"{name}.keras", input=InputSpec(48, 48, 1, (0.0, 1.0)),
        classes=splits["Training"].classes,
        gradcam_layer=architectures.GRADCAM_LAYERS[recipe.arch],
        tta=None, description=(architectures.ARCHITECTURES[recipe.arch].__doc__ or "").strip(),
        path=out / f"{name}.json",
    )
    tta, tta_selection = choose_tta(recipe, card, splits["PublicTest"], final)
    card = replace(card, tta=tta)
    metrics = card_metrics(card, splits, model=final, card_ref=(out / f"{name}.json").as_posix())
    labels = state.get("labels", "fer2013")
    if labels != "fer2013":  # the command that reproduces the PrivateTest number reads the same labels
        metrics["command"] += f" --labels {labels}"
    hist = pd.read_csv(work / "history.csv")
    shutil.copyfile(work / "history.csv", out / f"{name}.history.csv")
    plot_curves(hist, out / f"{name}.curves.png", title=card.name)
    training = {
        "recipe": asdict(recipe), "augmentation": recipe.augmentation(),
        "params": int(final.count_params()), "epochs_run": int(len(hist)),
        "best_epoch": int(hist["val_accuracy"].idxmax()) + 1,
        "hardware": " + ".join(state.get("hardware") or [_hardware()]),
        "wall_time_s": round(state["wall_s"], 1),
        "data": "FER2013 Training (fit), PublicTest (validation, early stopping, LR schedule), "
                "PrivateTest (reported once at the end)"
                + ("; labels: FER+'s majority vote" if labels == "ferplus" else ""),
        **({"labels": labels} if labels != "fer2013" else {}),
        "data_sha256": splits["Training"].source_hash,
        **({"tta_selection": tta_selection} if tta_selection else {}),
        "command": state.get("command") or f"python -m ferviz train --arch {recipe.arch}",
        **({"finish_command": finish_command,
            "stopped": f"interrupted after {len(hist)} of {recipe.epochs} epochs; the best checkpoint "
                       f"(epoch {int(hist['val_accuracy'].idxmax()) + 1}) was written with --finish"}
           if finish_command else {}),
        **({"init": _init_info(recipe.init)} if recipe.init else {}),
        **({"teachers": [_init_info(str(t)) for t in _teacher_paths(recipe)]} if recipe.teachers else {}),
        "software": {"tensorflow": __import__("tensorflow").__version__, "keras": keras.__version__,
                     "python": platform.python_version()},
    }
    card = ModelCard(**{**card.__dict__, "training": training, "metrics": metrics}).save(out / f"{name}.json")
    shutil.rmtree(work, ignore_errors=True)
    return card


def _display(arch: str) -> str:
    return {"baseline_cnn": "Baseline CNN", "vgg_small": "VGG-small", "vgg_deep": "VGG-deep"}.get(arch, arch)


def plot_curves(hist, path: Path, title: str = "") -> None:
    """Accuracy and loss per epoch (train and PublicTest validation) as a PNG."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 3.4), dpi=110)
    ax1, ax2 = fig.subplots(1, 2)
    ep = np.arange(1, len(hist) + 1)
    ax1.plot(ep, hist["accuracy"], label="train")
    ax1.plot(ep, hist["val_accuracy"], label="PublicTest")
    ax1.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    ax2.plot(ep, hist["loss"], label="train")
    ax2.plot(ep, hist["val_loss"], label="PublicTest")
    ax2.set(xlabel="epoch", ylabel="loss", title="loss")
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path)


def command_line(argv: list[str] | None = None) -> str:
    """The ``python -m ferviz ...`` command for these arguments (default: this process's)."""
    return "python -m ferviz " + " ".join(shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
