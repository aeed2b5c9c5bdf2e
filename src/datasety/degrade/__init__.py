"""`datasety degrade`: the degradation types and the batch that applies them."""
