"""Camera geometry: depth <-> 3D points, rigid motion, projection and intrinsics (see ``camera`` for conventions)."""

from tcdepth.geometry.camera import (
    axis_angle_to_rotation,
    backproject,
    disp_to_depth,
    invert_rigid,
    pixel_grid,
    pixels_to_grid,
    pose_vec_to_mat,
    project,
    project_with_depth,
    rigid_transform,
    scale_pixels,
    transform_points,
    transformed_depth,
)
from tcdepth.geometry.image_size import NETWORK_MULTIPLE, check_network_size
from tcdepth.geometry.intrinsics import (
    flip_intrinsics,
    intrinsics_at_scale,
    invert_intrinsics,
    make_intrinsics,
    normalized_to_pixel,
    pixel_to_normalized,
    resize_intrinsics,
    scale_intrinsics,
)

__all__ = [
    "NETWORK_MULTIPLE",
    "axis_angle_to_rotation",
    "backproject",
    "check_network_size",
    "disp_to_depth",
    "flip_intrinsics",
    "intrinsics_at_scale",
    "invert_intrinsics",
    "invert_rigid",
    "make_intrinsics",
    "normalized_to_pixel",
    "pixel_grid",
    "pixel_to_normalized",
    "pixels_to_grid",
    "pose_vec_to_mat",
    "project",
    "project_with_depth",
    "resize_intrinsics",
    "rigid_transform",
    "scale_intrinsics",
    "scale_pixels",
    "transform_points",
    "transformed_depth",
]
