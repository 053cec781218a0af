"""The stereo-baseline convention shared by training and evaluation."""

STANDARD_STEREO_BASELINE = 0.1
"""The unit-less stereo baseline monodepth2 and most methods train with (the rig's is 0.54 m): their
depths are in units of it, so evaluation scales stereo-trained models by 0.54 / 0.1 = 5.4."""
