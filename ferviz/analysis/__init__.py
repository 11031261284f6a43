"""What a model does on a split: predictions and metrics (``evaluation``), calibration, label
issues, the embedding map, feature maps, and the error views the gallery and exports share."""
