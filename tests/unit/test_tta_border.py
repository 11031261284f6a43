"""Maps averaged over shifted test-time views draw no frame at the border: a view's padding (its
replicated edge) carries no evidence back, and each face pixel averages only the views that showed it."""
from __future__ import annotations

import keras
import numpy as np
import pytest

from ferviz.attribution import blank_maps, explain
from ferviz.models import ModelCard
from ferviz.models.tta import from_view, mean_over_views, seen, to_view, views

SIZE = 48
D = 3  # the mirror+shift shift for 48 px: round(48 / 16)
CENTRE = (slice(18, 30), slice(18, 30))


def _distance_to_border(size: int = SIZE) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    return np.minimum(np.minimum(yy, size - 1 - yy), np.minimum(xx, size - 1 - xx))


def test_seen_and_padding_of_the_shifted_views():
    vs = views("mirror+shift", SIZE, SIZE)
    down = vs[2]
    assert down.name == "shift down"
    assert not down.shown()[:D].any() and down.shown()[D:].all()  # the first 3 rows replicate row 0
    assert seen(down)[:SIZE - D].all() and not seen(down)[SIZE - D:].any()  # the last 3 were pushed out
    assert all(seen(v).all() for v in vs[:2])  # the face and its mirror show every pixel
    # together the views show every pixel; the outer ring is shown by fewer of them
    count = sum(seen(v).astype(int) for v in vs)
    assert count.min() == 6 and count[D:-D, D:-D].min() == 10 and count[0, 0] == 6 and count[0, SIZE // 2] == 8


def test_mean_over_views_of_a_constant_map_stays_constant():
    """The old mean over views (padding summed into the edge, pushed-out pixels averaged with 0)
    gave an edge of 1.4 and a 3-px ring of 0.8 here: a frame."""
    vs = views("mirror+shift", SIZE, SIZE)
    ones = np.ones((2, SIZE, SIZE), np.float32)
    np.testing.assert_allclose(mean_over_views([to_view(ones, v) for v in vs], vs), 1.0)
    old = sum(from_view(to_view(ones, v), v, "sum") for v in vs) / len(vs)
    assert old[0, 0, SIZE // 2] > 1.3 and old[0, 1, SIZE // 2] < 0.9  # what the frame was made of
    # channels ride along, and each view's map moves back with its face
    x = np.random.default_rng(0).random((1, SIZE, SIZE, 2)).astype(np.float32)
    np.testing.assert_allclose(mean_over_views([to_view(x, v) for v in vs], vs), x, atol=1e-6)
    with pytest.raises(ValueError, match="maps for"):
        mean_over_views([ones], vs)


def flat_evidence_model() -> keras.Model:
    """Class 0 (angry) = a weighted sum of pixel brightness: the same weight everywhere, twice it in
    CENTRE. The Grad-CAM layer ("bright") is the brightness itself. On a face of one grey with a
    brighter CENTRE, every method's true map is flat outside the centre: a ring at the border can
    only come from the averaging over views."""
    inp = keras.Input((SIZE, SIZE, 1))
    x = keras.layers.Conv2D(1, 1, activation="relu", name="bright")(inp)
    out = keras.layers.Dense(7, activation="softmax", name="probs")(keras.layers.Flatten()(x))
    model = keras.Model(inp, out)
    model.get_layer("bright").set_weights([np.ones((1, 1, 1, 1), np.float32), np.zeros(1, np.float32)])
    w = np.ones((SIZE, SIZE), np.float32)
    w[CENTRE] = 2.0
    dense = np.zeros((SIZE * SIZE, 7), np.float32)
    dense[:, 0] = 4.0 * w.ravel() / w.sum()
    model.get_layer("probs").set_weights([dense, np.zeros(7, np.float32)])
    return model


@pytest.fixture(scope="module")
def flat_model():
    return flat_evidence_model(), ModelCard(name="flat-evidence", file="f.keras", gradcam_layer="bright",
                                            tta="mirror+shift")


@pytest.mark.parametrize("method, params", [("gradcam", {}), ("gradcampp", {}), ("smoothgrad", {"samples": 8}),
                                            ("ig", {"steps": 8})])
def test_tta_maps_have_no_frame_at_the_border(flat_model, method, params):
    model, card = flat_model
    face = np.full((1, SIZE, SIZE), 200, np.uint8)
    face[0][CENTRE] = 250
    tta = explain(model, card, face, 0, method, **params)[0]
    single = explain(model, card, face, 0, method, views="single", **params)[0]
    assert not blank_maps(np.stack([tta, single])).any()
    dist = _distance_to_border()
    outside = np.ones((SIZE, SIZE), bool)
    outside[12:36, 12:36] = False  # away from the centre and where the views move it
    ring = [float(tta[(dist == d) & outside].mean()) for d in range(D)]
    band = float(tta[(dist >= D) & (dist < 3 * D) & outside].mean())
    inside = float(tta[dist >= D].mean())
    assert max(ring) <= inside, (method, ring, inside)  # the border is no brighter than the inside ...
    assert max(abs(r - band) for r in ring) < 0.03, (method, ring, band)  # ... nor a darker (or brighter) frame
    assert tta[CENTRE].mean() > 0.5 > band  # what stands out is the centre
    # one view of the face has no frame either: the averaged map agrees with it outside the centre
    assert abs(float(single[(dist < D) & outside].mean()) - float(single[(dist >= D) & outside].mean())) < 0.03
