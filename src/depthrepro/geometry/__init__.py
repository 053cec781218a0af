"""Camera models, back-projection, projection and SE(3) pose utilities (torch only)."""
