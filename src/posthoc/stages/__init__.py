"""One function per workflow stage: read inputs, call the library, write the contracted outputs.

Rule scripts call exactly one ``run`` from here with plain arguments; nothing here imports
Snakemake, so every stage is callable (and tested) without it.
"""
