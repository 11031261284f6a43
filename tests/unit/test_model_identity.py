"""One model identity (ModelCard.identity) behind every cache key and memo, and memos kept beside
the user's model object (weakly keyed), never on it."""
from __future__ import annotations

import gc
import os
import weakref
from dataclasses import replace

import numpy as np
import pytest


from ferviz import attribution  # noqa: E402
from ferviz.analysis import embedding, evaluation  # noqa: E402
from ferviz.attribution import cache as acache  # noqa: E402
from ferviz.attribution.trust import trust_cache_path  # noqa: E402
from ferviz.data.splits import FERSplit  # noqa: E402
from ferviz.models import InputSpec, ModelCard, ModelIdentity, ModelMemo, load_card  # noqa: E402

from .tiny_models import brightness_model  # noqa: E402

CENTRES = np.linspace(0.1, 0.9, 7)


def _faces(n: int = 6, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 48, 48), dtype=np.uint8)


def _split(n: int = 6) -> FERSplit:
    return FERSplit(_faces(n), np.arange(n) % 7, np.array([f"PrivateTest_{i}" for i in range(n)]), "PrivateTest",
                    "synthetic", "h0")


@pytest.fixture()
def saved(tmp_path, monkeypatch):
    """A brightness model saved beside its card, and an isolated cache."""
    monkeypatch.setenv("FERVIZ_CACHE", str(tmp_path / "cache"))
    model = brightness_model(CENTRES)
    model.save(tmp_path / "m.keras")
    card = ModelCard(name="M", file="m.keras", description="first").save(tmp_path / "m.json")
    return model, card


def _variants(card: ModelCard) -> dict[str, ModelCard]:
    """One card per prediction-relevant field changed."""
    return {
        "height": replace(card, input=InputSpec(height=40)),
        "width": replace(card, input=InputSpec(width=40)),
        "channels": replace(card, input=InputSpec(channels=3)),
        "scale": replace(card, input=InputSpec(scale=(-1.0, 1.0))),
        "classes": replace(card, classes=tuple(reversed(card.classes))),
        "tta mirror": replace(card, tta="mirror"),
        "tta mirror+shift": replace(card, tta="mirror+shift"),
        "gradcam_layer": replace(card, gradcam_layer="conv"),
    }


# ------------------------------------------------------------------ the identity

def test_identity_is_the_file_hash_and_the_prediction_fields(saved):
    _, card = saved
    ident = card.identity()
    assert isinstance(ident, ModelIdentity)
    assert ident.model_hash == card.model_hash() and len(ident.model_hash) == 64
    assert (ident.height, ident.width, ident.channels, ident.scale) == (48, 48, 1, (0.0, 1.0))
    assert ident.classes == card.classes and ident.tta is None and ident.gradcam_layer is None
    assert card.compute_key() == ident.key
    hash(ident)  # usable as a dict key


def test_identity_changes_with_each_prediction_field_and_not_with_name_or_notes(saved):
    _, card = saved
    base = card.identity()
    keys = {"base": base.key}
    for what, changed in _variants(card).items():
        assert changed.identity() != base, what
        keys[what] = changed.identity().key
    assert len(set(keys.values())) == len(keys), keys  # every field its own key
    notes = replace(card, name="Renamed", description="edited", metrics={"PrivateTest": {"accuracy": 0.5}},
                    training={"epochs": 3})
    assert notes.identity() == base and notes.compute_key() == base.key


def test_identity_follows_the_model_files_bytes(saved, tmp_path):
    _, card = saved
    before = card.identity()
    path = card.model_path
    st = path.stat()
    brightness_model(CENTRES[::-1].copy()).save(path)  # other weights, same file name
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    after = card.identity()
    assert after.model_hash != before.model_hash and after.key != before.key
    assert replace(after, model_hash=before.model_hash) == before  # only the file part moved


def test_identity_from_json_equals_the_written_card_and_scale_is_normalised(saved):
    _, card = saved
    assert load_card(card.path).identity() == card.identity()
    ints = replace(card, input=InputSpec(scale=(0, 1)))
    assert ints.identity() == card.identity()


def test_identity_without_the_file_and_with_a_known_hash(tmp_path):
    card = ModelCard(name="x", file="missing.keras", path=tmp_path / "x.json")
    with pytest.raises(FileNotFoundError):
        card.identity()
    loose = card.identity(with_file=False)
    assert loose.model_hash is None
    assert card.identity("abc").model_hash == "abc" and card.identity("abc").key != card.identity("abd").key
    assert replace(card, tta="mirror").identity(with_file=False) != loose


# ------------------------------------------------------------------ every cache uses it

def test_cards_of_one_file_with_other_tta_or_scale_never_share_a_cache(saved):
    model, card = saved
    split = _split()
    renamed = replace(card, name="Renamed", description="edited")
    tta, scale = replace(card, tta="mirror"), replace(card, input=InputSpec(scale=(-1.0, 1.0)))
    methods = list(attribution.METHODS)
    paths = {
        "predictions": evaluation.prediction_cache_path,
        "features": lambda c, s: embedding.features_cache_path(c, s, "tta"),
        "embedding": lambda c, s: embedding.embedding_cache_path(c, s, "pca", 0),
        "trust": lambda c, s: trust_cache_path(c, s, methods),
    }
    for what, path_of in paths.items():
        base = path_of(card, split)
        assert path_of(renamed, split) == base, what  # editing name/description keeps the cache
        assert len({base, path_of(tta, split), path_of(scale, split)}) == 3, what
    # single-view features: only the card's fields (not the applied views) set them apart
    assert len({embedding.features_cache_path(c, split, "single") for c in (card, tta, scale)}) == 3

    explainers = [attribution.get_explainer(model, c, "gradcam") for c in (card, tta, scale)]
    assert len({id(e) for e in explainers}) == 3
    assert attribution.get_explainer(model, renamed, "gradcam") is explainers[0]

    folders = {}
    for label, c in (("base", card), ("tta", tta), ("scale", scale), ("renamed", renamed)):
        ex = attribution.get_explainer(model, c, "gradcam")
        folders[label] = acache._folder(ex, c, c.model_hash(), split.data_hash, "gradcam", ex.params(),
                                        ex.tta_of("tta"))
    assert folders["renamed"] == folders["base"]
    assert len({folders["base"], folders["tta"], folders["scale"]}) == 3
    # and through cached_explain: each card fills its own folder, the renamed card reads the base one
    for c in (card, tta, scale):
        acache.cached_explain(model, c, split.images[:2], split.ids[:2], split.data_hash, 0, "gradcam")
    made = sorted(p.name for p in (folders["base"].parent).iterdir())
    assert made == sorted(f.name for f in (folders["base"], folders["tta"], folders["scale"]))
    acache.clear_memory()
    calls = []
    orig = type(explainers[0]).__call__
    try:
        type(explainers[0]).__call__ = lambda self, *a, **k: calls.append(1) or orig(self, *a, **k)
        acache.cached_explain(model, renamed, split.images[:2], split.ids[:2], split.data_hash, 0, "gradcam")
    finally:
        type(explainers[0]).__call__ = orig
    assert calls == []  # read from the base card's folder


def test_predictions_of_one_card_are_not_read_for_another(saved, monkeypatch):
    model, card = saved
    split = _split()
    first = evaluation.evaluate(card, split, model=model)
    computed = []
    real = evaluation.predict_probs

    def counting(m, c, images, **kw):
        computed.append(c.tta or c.input.scale)
        return real(m, c, images, **kw)
    monkeypatch.setattr(evaluation, "predict_probs", counting)
    tta = evaluation.evaluate(replace(card, tta="mirror"), split, model=model)
    scale = evaluation.evaluate(replace(card, input=InputSpec(scale=(-1.0, 1.0))), split, model=model)
    assert computed == ["mirror", (-1.0, 1.0)]
    assert not np.allclose(scale.probs, first.probs)  # the cache would have hidden this
    again = evaluation.evaluate(replace(card, name="Renamed", description="edited"), split, model=model)
    assert len(computed) == 2  # renaming: read from the cache
    np.testing.assert_array_equal(again.probs, first.probs)
    assert tta.probs.shape == first.probs.shape


# ------------------------------------------------------------------ nothing on the model object

def _attributes(model) -> tuple[set, set]:
    return set(vars(model)), set(dir(model))


def test_nothing_is_set_on_the_users_model(saved):
    model, card = saved
    split = _split()
    before = _attributes(model)
    evaluation.evaluate(card, split, model=model, use_cache=False)
    embedding.penultimate_features(model, card, split.images, with_probs=True)
    embedding.cached_features(model, replace(card, tta="mirror"), split, use_cache=False)
    for method in attribution.METHODS:
        attribution.get_explainer(model, card, method)
    attribution.explain(model, card, split.images[:2], 0, "gradcam")
    acache.cached_explain(model, card, split.images[:2], split.ids[:2], split.data_hash, 0, "gradcam")
    after = _attributes(model)
    assert after[0] == before[0], after[0] - before[0]
    assert after[1] == before[1], after[1] - before[1]
    assert not [a for a in dir(model) if a.startswith("_ferviz")]


def test_memos_share_traced_functions_across_cards_and_are_beside_the_model(saved):
    model, card = saved
    fwd = evaluation._forward(model)
    assert evaluation._forward(model) is fwd
    assert embedding.feature_function(model) is embedding.feature_function(model)
    assert evaluation._FORWARD.entries(model) == 1 and embedding._FEATURE_FUNCTIONS.entries(model) == 1
    other = brightness_model(CENTRES)
    assert evaluation._forward(other) is not fwd


def _use_everything(tmp_path) -> tuple[weakref.ref, int, int, int]:
    """Build a model, run every memoised path on it and return a weak reference to it."""
    model = brightness_model(CENTRES)
    card = ModelCard(name="tmp", file="tmp.keras", path=tmp_path / "tmp.json")
    split = _split(4)
    evaluation.predict_probs(model, card, split.images)
    embedding.penultimate_features(model, card, split.images)
    for method in ("gradcam", "gradcampp", "ig", "smoothgrad", "xrai"):
        attribution.get_explainer(model, card, method)
        attribution.get_explainer(model, replace(card, tta="mirror"), method)
    attribution.explain(model, card, split.images[:1], 0, "gradcam")
    counts = (evaluation._FORWARD.entries(model), embedding._FEATURE_FUNCTIONS.entries(model),
              attribution.methods._EXPLAINERS.entries(model))
    return weakref.ref(model), *counts


def test_memos_are_released_with_the_model(tmp_path):
    gc.collect()
    held = (evaluation._FORWARD.models(), embedding._FEATURE_FUNCTIONS.models(), attribution.methods._EXPLAINERS.models())
    ref, n_fwd, n_feat, n_expl = _use_everything(tmp_path)
    assert (n_fwd, n_feat, n_expl) == (1, 1, 10)  # 5 methods x 2 card identities
    gc.collect()
    assert ref() is None, "a memo keeps the model alive"
    assert (evaluation._FORWARD.models(), embedding._FEATURE_FUNCTIONS.models(),
            attribution.methods._EXPLAINERS.models()) == held


def test_model_memo_rules():
    memo = ModelMemo()

    class Model:
        pass
    m = Model()
    built = []
    make = lambda: built.append(1) or object()  # noqa: E731
    a = memo.get(m, "k", make)
    assert memo.get(m, "k", make) is a and len(built) == 1
    assert memo.get(m, "other", make) is not a and memo.entries(m) == 2 and memo.models() == 1
    assert not hasattr(m, "__dict__") or vars(m) == {}
    del m
    gc.collect()
    assert memo.models() == 0 and memo.entries() == 0
    unhashable = []  # not weak-referenceable: built each time, nothing kept
    assert memo.get(unhashable, "k", make) is not memo.get(unhashable, "k", make)
    assert memo.models() == 0
