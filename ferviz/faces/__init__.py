"""Faces from the user's own pictures: photo decoding (``images``), detection and cropping to
FER2013's framing (``detection``) and the live webcam analysis (``live``)."""
