"""Provenance: code fingerprints, data hashes, git state and run tracking."""
