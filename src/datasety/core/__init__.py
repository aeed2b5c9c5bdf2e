"""Bottom layer: errors, atomic writes, progress, bounded pools, randomness, path confinement,
dataset layout conventions and input discovery. Imports nothing above it."""
