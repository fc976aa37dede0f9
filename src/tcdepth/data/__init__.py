"""Datasets, split files, intrinsics file, KITTI calibration and augmentation (see docs/data.md)."""
