"""Prepared data: ground-truth depth export for the evaluation splits."""
