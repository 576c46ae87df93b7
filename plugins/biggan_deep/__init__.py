"""Built-in BigGAN-deep architecture (work in progress: issue 7)."""
