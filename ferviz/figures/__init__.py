"""What a figure shows, computed once for both renderers (plotly in the app, matplotlib in
exports): display objects (``display``) and the attribution colour maps and blending (``overlay``)."""
