"""Latent Explorer: look inside trained autoencoders."""
