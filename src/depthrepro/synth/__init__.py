"""The synthetic street world: exact-ground-truth drives rendered in the on-disk layout of KITTI raw."""
