"""`datasety shuffle`: a caption per image from --group variants."""
