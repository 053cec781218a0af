"""torch Datasets and augmentations over prepared data."""
