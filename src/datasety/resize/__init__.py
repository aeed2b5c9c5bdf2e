"""`datasety resize`: geometry, one image with libvips, the batch."""
