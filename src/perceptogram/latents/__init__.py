"""latents."""
