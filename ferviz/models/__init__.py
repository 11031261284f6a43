"""Models: a Keras file plus a JSON card beside it (``<stem>.json``) saying what the file cannot:
display name, input size/channels/scaling, class order, the Grad-CAM layer and test-time views.

One module per job: :mod:`.cards` (the card schema and its validation), :mod:`.registry`
(finding cards), :mod:`.loading` (safe loading, checked against the card), :mod:`.heads`
(what the output layer gives), :mod:`.preprocessing` (faces to model input) and
:mod:`.identity` (the one model identity every cache key is built on, and per-model memos),
:mod:`.tta` (the test-time views a card declares). Those are re-exported here, so
``from ferviz.models import ...`` is the one import to use for them. The model's life outside
the dashboard sits here too, imported by name: :mod:`.architectures` and :mod:`.training`
(ferviz's own training command) and :mod:`.on_device` (TensorFlow Lite and ONNX export).
"""
from __future__ import annotations

from .cards import InputSpec, ModelCard, ModelError, card_from_dict, load_card
from .heads import activation_name, output_head
from .identity import IDENTITY_VERSION, ModelIdentity, ModelMemo
from .loading import check_model, load_model
from .preprocessing import preprocess
from .registry import find_card, list_cards
from .tta import TTA_MODES

__all__ = ["IDENTITY_VERSION", "TTA_MODES", "InputSpec", "ModelCard", "ModelError", "ModelIdentity", "ModelMemo",
           "activation_name", "card_from_dict", "check_model", "find_card", "list_cards", "load_card", "load_model",
           "output_head", "preprocess"]
