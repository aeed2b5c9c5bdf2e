"""`datasety align`: control/target pairs made the same size."""
