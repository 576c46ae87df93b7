"""Built-in StyleGAN3 architecture (work in progress: issue 7)."""
