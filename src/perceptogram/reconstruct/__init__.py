"""reconstruct."""
