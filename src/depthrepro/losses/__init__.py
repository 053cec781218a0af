"""Photometric, smoothness and other self-supervised training losses."""
