"""Training: the loop, checkpoints with exact resume, seeding."""
