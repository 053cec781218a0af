"""depthrepro: reproduce the tables of self-supervised monocular depth papers."""

__version__ = "0.1.0"
