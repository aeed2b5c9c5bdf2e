"""Reading and decoding media: libvips decode, perceptual hashes. Imports only core."""
