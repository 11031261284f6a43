"""Attribution speed and quality, as ratios measured in one run:

* batched Grad-CAM over 256 PrivateTest faces vs one traced forward+backward pass of the same
  model over them, backward to the input and, like for like, only to the Grad-CAM layer
  (target <= 2.0);
* XRAI per face with ferviz's 48x48 settings vs saliency's defaults (224 segmentation, 100 IG
  steps, batch 1) on the same faces, both through ferviz's traced call_model_function, with
  deletion/insertion AUCs of both (target >= 3x faster, deletion AUC no worse);
* fetching cached maps vs computing them (target <= 0.01), for Grad-CAM and XRAI.
"""
from __future__ import annotations

import shutil
import time

import numpy as np
from _common import emit, fresh_cache, median_time, parser


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--xrai-images", type=int, default=12, help="faces for the XRAI comparison")
    args = p.parse_args()
    cache_root = fresh_cache()
    import tensorflow as tf
    from saliency.core import XRAI

    from ferviz.attribution import cached_explain, explain, get_explainer
    from ferviz.attribution.cache import clear_memory
    from ferviz.attribution.base import finish, output_indices
    from ferviz.attribution.gradients import one_hot, score_model
    from ferviz.attribution.xrai import _segments_cached, call_model_function
    from ferviz.data.splits import load_fer2013
    from ferviz.analysis.evaluation import predict_probs
    from ferviz.attribution.faithfulness import deletion_insertion, summarise
    from ferviz.models import load_card, load_model, preprocess

    from ferviz.cache import file_hash

    def forget_all() -> None:
        """What a new process lacks: the in-memory maps, request memo and file-hash memo."""
        clear_memory()
        file_hash.__kwdefaults__["_memo"].clear()

    card = load_card(args.model)
    split = load_fer2013(args.data, "PrivateTest")
    model = load_model(card)
    faces = split.images[:256]
    targets = predict_probs(model, card, faces).argmax(axis=1)
    out: dict = {"benchmark": "attribution", "model": card.key}

    # 1. batched Grad-CAM vs one forward+backward pass
    x, w = preprocess(faces, card.input), one_hot(output_indices(card, targets))
    grads = score_model(model).input_gradients
    layer = get_explainer(model, card, "gradcam").layer
    feature_grads = score_model(model, layer).feature_gradients
    fwd_bwd = lambda: grads(tf.constant(x), tf.constant(w)).numpy()  # noqa: E731
    fwd_feat = lambda: [t.numpy() for t in feature_grads(tf.constant(x), tf.constant(w))]  # noqa: E731
    gradcam = lambda: explain(model, card, faces, targets, "gradcam", batch_size=256)  # noqa: E731
    fwd_bwd(), fwd_feat(), gradcam()  # trace all once
    t_base, t_feat = median_time(fwd_bwd, args.repeats), median_time(fwd_feat, args.repeats)
    t_cam = median_time(gradcam, args.repeats)
    out.update(gradcam_images=len(faces), forward_backward_s=t_base, forward_backward_to_layer_s=t_feat,
               gradcam_batched_s=t_cam, gradcam_vs_forward_backward=t_cam / t_base,
               gradcam_vs_forward_backward_to_layer=t_cam / t_feat, target_gradcam_vs_forward_backward=2.0)

    # 2. XRAI: ferviz settings vs saliency defaults, same faces and targets
    n = args.xrai_images
    xf, tf_ = faces[:n], targets[:n]
    cmf, xi = call_model_function(model), preprocess(xf, card.input)
    explain(model, card, faces[-2:], 0, "xrai")  # trace the gradient function once
    cmf(xi[:1], call_model_args={"target": 0})
    _segments_cached.cache_clear()  # ours pays for its segmentation too
    t = time.perf_counter()
    ours = explain(model, card, xf, tf_, "xrai")
    t_ours = (time.perf_counter() - t) / n
    t = time.perf_counter()
    ref = np.stack([XRAI().GetMask(xi[i], cmf, call_model_args={"target": int(j)})
                    for i, j in enumerate(output_indices(card, tf_))])
    t_ref = (time.perf_counter() - t) / n
    ref = finish(ref, xf.shape[1:])
    s_ours = summarise(deletion_insertion(model, card, xf, ours, tf_, n_random=3))
    s_ref = summarise(deletion_insertion(model, card, xf, ref, tf_, n_random=3))
    out.update(xrai_images=n, xrai_ours_s_per_image=t_ours, xrai_defaults_s_per_image=t_ref,
               xrai_speedup=t_ref / t_ours, target_xrai_speedup=3.0,
               xrai_ours_deletion_auc=s_ours.deletion_auc, xrai_defaults_deletion_auc=s_ref.deletion_auc,
               xrai_ours_insertion_auc=s_ours.insertion_auc, xrai_defaults_insertion_auc=s_ref.insertion_auc,
               random_order_deletion_auc=s_ours.random_deletion_auc,
               xrai_deletion_no_worse=bool(s_ours.deletion_auc <= s_ref.deletion_auc))

    # 3. cached fetch vs computing, one face (the inspect view) and a 32-face cell (a gallery)
    for method in ("gradcam", "xrai"):
        for k in (1, 32):
            f, ids, tk = faces[:k], split.ids[:k], targets[:k]
            get_explainer(model, card, method)
            compute = median_time(lambda: explain(model, card, f, tk, method), args.repeats,
                                  setup=_segments_cached.cache_clear)
            cached_explain(model, card, f, ids, split.data_hash, tk, method)
            fetch = median_time(lambda: cached_explain(model, card, f, ids, split.data_hash, tk, method),
                                args.repeats)
            disk = median_time(lambda: cached_explain(model, card, f, ids, split.data_hash, tk, method),
                               args.repeats, setup=clear_memory)  # maps from disk only
            cold = median_time(lambda: cached_explain(model, card, f, ids, split.data_hash, tk, method),
                               args.repeats, setup=forget_all)  # the first fetch of a new process
            out[f"cache_{method}_{k}_compute_s"] = compute
            out[f"cache_{method}_{k}_fetch_s"] = fetch
            out[f"cache_{method}_{k}_fetch_vs_compute"] = fetch / compute
            out[f"cache_{method}_{k}_disk_fetch_vs_compute"] = disk / compute
            out[f"cache_{method}_{k}_new_process_fetch_vs_compute"] = cold / compute
    out["target_fetch_vs_compute"] = 0.01
    out["note"] = ("forward_backward = one traced pass computing input gradients of the target logits for "
                   "all 256 faces at once (forward_backward_to_layer: gradients only down to the Grad-CAM layer, "
                   "as Grad-CAM needs); gradcam_batched = ferviz.attribution.explain incl. preprocessing, "
                   "upsampling and scaling; XRAI defaults use ferviz's traced call_model_function "
                   "(eager would be slower); AUCs: probability of the predicted class, mean-grey fill, "
                   "16 steps; fetch = a repeat fetch in the same process (memory, then disk); disk_fetch = "
                   "maps read from disk (in-memory maps and request memo cleared); new_process_fetch = also "
                   "the model file's hash forgotten, as in the first fetch of a new process")
    emit(out)
    shutil.rmtree(cache_root, ignore_errors=True)


if __name__ == "__main__":
    main()
