"""posthoc: post-hoc explainability studies of convolutional networks, as a library.

Everything that computes lives here; the Snakemake workflow only calls it.
"""

__version__ = "0.1.0"
