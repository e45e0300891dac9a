"""Super-resolution: light and residual generators, GAN training, tiled upscaling, metrics."""
