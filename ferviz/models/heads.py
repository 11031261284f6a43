"""What a model's output layer gives: probabilities, logits or other scores."""
from __future__ import annotations


def activation_name(layer) -> str:
    """The lower-case name of a layer's activation ("softmax", "linear", ...; "nonetype" if none)."""
    fn = getattr(layer, "activation", None)
    return getattr(fn, "__name__", type(fn).__name__).lower()


def output_head(model) -> str:
    """What a model outputs, read from its last layer (inside a nested model as last layer):
    "probs" (softmax), "logits" (a linear activation) or "scores" (anything else)."""
    last = model.layers[-1]
    while getattr(last, "layers", None):
        last = last.layers[-1]
    act = activation_name(last)
    if type(last).__name__ == "Softmax" or act == "softmax":
        return "probs"
    return "logits" if act == "linear" else "scores"
