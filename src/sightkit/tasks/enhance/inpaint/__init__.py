"""Inpainting: fill masked regions of an image with a mask-aware GAN generator (see ``api.Inpainter``)."""
