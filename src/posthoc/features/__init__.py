"""What the layers learned: activation records, receptive fields, max-activating patches, feature visualisation.

Nothing here loads data or draws: stages pass tensors in, plots draw what comes out.
"""
