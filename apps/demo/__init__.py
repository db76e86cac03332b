"""``trainsmart demo``: the whole loop on the shipped dataset, with real processes."""
