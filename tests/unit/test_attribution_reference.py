"""ferviz's traced Grad-CAM/Grad-CAM++ agree with tf-keras-vis (the reference) on a plain model,
and XRAI's traced call_model_function agrees with saliency's own integrated gradients."""
from __future__ import annotations

import numpy as np
import pytest

import keras  # noqa: E402  (a requirement: a missing keras fails, never skips)
import tf_keras_vis  # noqa: E402,F401  (a requirement)

from ferviz.attribution import explain  # noqa: E402
from ferviz.models import ModelCard, preprocess  # noqa: E402


def plain_model(pool: bool = True) -> keras.Model:
    """No shortcuts, so tf-keras-vis's eager gradients are safe here."""
    keras.utils.set_random_seed(1)
    L = keras.layers
    inp = keras.Input((48, 48, 1))
    x = L.Conv2D(8, 3, padding="same", activation="relu")(inp)
    x = L.MaxPooling2D(2)(x) if pool else x
    x = L.Conv2D(16, 3, padding="same", activation="relu")(x)
    x = L.MaxPooling2D(2)(x) if pool else x
    x = L.Conv2D(16, 3, padding="same", activation="relu", name="last_conv")(x)
    x = L.Flatten()(x)
    out = L.Dense(7, activation="softmax")(x)
    return keras.Model(inp, out)


def smooth_faces(n: int) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(3)
    x = gaussian_filter(rng.random((n, 48, 48)), sigma=(0, 3, 3))
    return np.round(255 * (x - x.min()) / (x.max() - x.min())).astype(np.uint8)


def _reference(method, model, x, targets, **kw):
    from tf_keras_vis.gradcam import Gradcam
    from tf_keras_vis.gradcam_plus_plus import GradcamPlusPlus
    from tf_keras_vis.utils.model_modifiers import ReplaceToLinear
    from tf_keras_vis.utils.scores import CategoricalScore

    ref_cls = Gradcam if method == "gradcam" else GradcamPlusPlus
    cam = ref_cls(model, model_modifier=ReplaceToLinear(), clone=True)
    return np.asarray(cam(CategoricalScore(list(targets)), x, penultimate_layer="last_conv", **kw))


def _corrs(ours, ref):
    return [np.corrcoef(a.ravel(), b.ravel())[0, 1] for a, b in zip(ours, ref) if b.std() > 1e-6]


@pytest.mark.parametrize("method", ["gradcam", "gradcampp"])
def test_maps_match_tf_keras_vis(method):
    """End to end (ReLU, [0, 1] scaling) on a model whose CAM layer has the input's size."""
    model = plain_model(pool=False)
    card = ModelCard(name="plain", file="plain.keras", gradcam_layer="last_conv")
    x, targets = smooth_faces(6), np.arange(6) % 7
    ref = _reference(method, model, preprocess(x, card.input), targets)
    corrs = _corrs(explain(model, card, x, targets, method), ref)
    assert len(corrs) >= 4 and min(corrs) >= 0.99, corrs
    assert model.layers[-1].activation.__name__ == "softmax"  # clone=True left ours alone


@pytest.mark.parametrize("method", ["gradcam", "gradcampp"])
def test_cams_match_tf_keras_vis_before_upsampling(method):
    """With pooling, the 12x12 CAMs agree; only the upsampling differs by design: ferviz resizes
    with half-pixel-centred bilinear (each CAM cell centred on the pixels it covers), tf-keras-vis
    with scipy's corner-aligned zoom, shifting maps up to 1.5 px towards the borders at 4x."""
    from ferviz.attribution import get_explainer
    from ferviz.attribution.base import output_indices

    model = plain_model(pool=True)
    card = ModelCard(name="plain", file="plain.keras", gradcam_layer="last_conv")
    x, targets = smooth_faces(6), np.arange(6) % 7
    xi = preprocess(x, card.input)
    ref = _reference(method, model, xi, targets, expand_cam=False, normalize_cam=False)
    ours = get_explainer(model, card, method).raw(xi, output_indices(card, targets), x)
    assert ours.shape == ref.shape == (6, 12, 12)
    corrs = _corrs(ours, ref)
    assert len(corrs) >= 4 and min(corrs) >= 0.99, corrs


def test_call_model_function_matches_saliency_ig():
    from saliency.core import IntegratedGradients

    from ferviz.attribution.gradients import score_model
    from ferviz.attribution.integrated_gradients import integrated_gradients
    from ferviz.attribution.xrai import call_model_function

    model = plain_model()
    card = ModelCard(name="plain", file="plain.keras")
    x = preprocess(smooth_faces(1), card.input)
    ref = IntegratedGradients().GetMask(x[0], call_model_function(model), call_model_args={"target": 3},
                                        x_steps=16, batch_size=16, x_baseline=np.zeros_like(x[0]))
    ours = integrated_gradients(score_model(model), x, np.array([3]), np.zeros_like(x), steps=64)[0]
    assert np.corrcoef(ref.ravel(), ours.ravel())[0, 1] > 0.95
