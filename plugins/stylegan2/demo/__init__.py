"""The built-in demo model: a small StyleGAN2 trained by the project on procedural shapes.

shapes (the data set), factors (estimating its factors from images), discriminator,
train (the resumable training run), evaluate (how far SeFa directions move each factor).
"""
