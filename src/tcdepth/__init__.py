"""tcdepth: self-supervised, temporally consistent depth from monocular video (TC-Depth, 3DV 2021)."""

__version__ = "0.1.0"
