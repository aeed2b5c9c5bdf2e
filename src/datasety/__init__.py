"""datasety: prepare datasets for generative models."""

__version__ = "0.1.0"
