"""Encoders, decoders and pose networks."""
