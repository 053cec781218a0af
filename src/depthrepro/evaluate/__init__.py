"""Evaluation: named protocols, depth metrics, flip post-processing and pose ATE."""
