"""Filtering a dataset by content (`datasety filter`): CLIP text queries or NudeNet labels."""
