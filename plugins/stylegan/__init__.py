"""Built-in StyleGAN (v1) architecture (work in progress: issue 6)."""
