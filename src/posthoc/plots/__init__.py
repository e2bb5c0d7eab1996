"""Figures for the study (matplotlib, Agg-safe), one module per figure family. Drawing only: nothing
here computes a metric.

* :mod:`.panels` — shared helpers: inputs (images and signals), map overlays, colour maps and
  colour bars, map scaling with void panels, text wrapping, fixed grids;
* :mod:`.eda`, :mod:`.training`, :mod:`.evaluation` — data, training and classification figures;
* :mod:`.maps` — per-method grids and the cross-method grids (comparison, per class);
  :mod:`.confusions` — correct vs misclassified;
* :mod:`.reconstructions`, :mod:`.faithfulness`, :mod:`.occlusion`, :mod:`.lime`, :mod:`.robustness`.

This file imports none of them on purpose: a stage imports the family module it draws with, so a
workflow that derives a rule's code dependencies from imports reruns only the rules whose figures
changed. Every function returns a :class:`matplotlib.figure.Figure`; the caller saves it with
:func:`posthoc.io.save_figure` (RGB or palette PNG at 100 dpi, closes the figure).

Display conventions (honest maps): non-negative maps use a perceptually uniform sequential colour
map from 0; signed maps (the caller says which, ``signed=True``) a diverging one centred at 0; the
scale (per panel, per row or per column) is stated in the colour bar; a panel with no positive
value is labelled "void" rather than stretched.
"""
