"""Loading a card's Keras model safely and checking it against the card."""
from __future__ import annotations

from .cards import ModelCard, ModelError


def load_model(card: ModelCard):
    """Load the card's Keras model in safe mode and check it against the card."""
    import keras

    p = card.model_path
    if p.suffix not in (".keras", ".h5", ".hdf5"):
        raise ModelError(f"{p}: expected a .keras or .h5 file")
    try:
        model = keras.models.load_model(p, compile=False, safe_mode=True)
    except Exception as e:  # Keras raises many types for bad files
        msg = str(e).splitlines()[0][:300] if str(e) else type(e).__name__
        raise ModelError(f"{p}: not a loadable Keras model ({msg})") from None
    check_model(model, card)
    return model


def check_model(model, card: ModelCard) -> None:
    """Refuse a model whose input or output does not match the card."""
    where = card.path or card.file
    try:
        in_shape = tuple(model.input_shape)
        out_shape = tuple(model.output_shape)
    except (AttributeError, ValueError) as e:
        raise ModelError(f"{where}: model has no single input and output ({e})") from None
    if len(out_shape) != 2 or out_shape[-1] != len(card.classes):
        raise ModelError(f"{where}: model outputs shape {out_shape[1:]}, but the card lists "
                         f"{len(card.classes)} classes ({', '.join(card.classes)}); the card's classes must "
                         "name each output in order")
    want = (card.input.height, card.input.width, card.input.channels)
    got = tuple(in_shape[1:])
    if len(got) != 3 or any(g is not None and g != w for g, w in zip(got, want)):
        raise ModelError(f"{where}: card says input {want} but the model takes {got}")
    if card.gradcam_layer:
        names = {layer.name for layer in model.layers}
        if card.gradcam_layer not in names:
            raise ModelError(f"{where}: gradcam_layer {card.gradcam_layer!r} is not a layer of the model")
