"""`datasety inspect`: the dataset report and lint findings."""
