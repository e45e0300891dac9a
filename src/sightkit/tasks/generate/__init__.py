"""Image synthesis with GANs: an unconditional DCGAN and a class-conditional projection GAN."""
