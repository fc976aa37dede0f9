import math

import pytest
import torch
from kornia.geometry.conversions import axis_angle_to_rotation_matrix

from tcdepth.geometry import (
    axis_angle_to_rotation,
    backproject,
    disp_to_depth,
    flip_intrinsics,
    intrinsics_at_scale,
    invert_intrinsics,
    invert_rigid,
    make_intrinsics,
    normalized_to_pixel,
    pixel_to_normalized,
    pixels_to_grid,
    pose_vec_to_mat,
    project,
    project_with_depth,
    resize_intrinsics,
    rigid_transform,
    scale_pixels,
    transformed_depth,
)

KITTI_NORM = torch.tensor([[0.58, 0.0, 0.5], [0.0, 1.92, 0.5], [0.0, 0.0, 1.0]])


def _K(b=2, h=12, w=20):
    return normalized_to_pixel(KITTI_NORM, h, w).expand(b, 3, 3).clone()


def test_disp_to_depth_closed_form():
    disp = torch.tensor([0.0, 0.5, 1.0])
    scaled, depth = disp_to_depth(disp, 0.1, 100.0)
    assert torch.allclose(scaled, torch.tensor([0.01, 0.01 + 0.5 * 9.99, 10.0]))
    assert torch.allclose(depth, torch.tensor([100.0, 1 / (0.01 + 0.5 * 9.99), 0.1]))


def test_pose_identity_and_known_rotation():
    zero = torch.zeros(1, 3)
    assert torch.allclose(pose_vec_to_mat(zero, zero), torch.eye(4).unsqueeze(0))
    # 90 degrees about the y axis: x -> -z, z -> x (right-handed).
    T = pose_vec_to_mat(torch.tensor([[0.0, math.pi / 2, 0.0]]), torch.tensor([[1.0, 2.0, 3.0]]))
    expected_R = torch.tensor([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]])
    assert torch.allclose(T[0, :3, :3], expected_R, atol=1e-6)
    assert torch.allclose(T[0, :3, 3], torch.tensor([1.0, 2.0, 3.0]))


@pytest.mark.parametrize("angle", [0.0, 1e-9, 1e-5, 1e-2, 0.5, 2.0, 3.1])
def test_axis_angle_rotation_matches_kornia(angle):
    g = torch.Generator().manual_seed(2)
    axes = torch.nn.functional.normalize(torch.randn(64, 3, generator=g, dtype=torch.float64), dim=-1)
    R = axis_angle_to_rotation(axes * angle)
    torch.testing.assert_close(R, axis_angle_to_rotation_matrix(axes * angle), atol=1e-12, rtol=0)
    torch.testing.assert_close(R @ R.transpose(1, 2), torch.eye(3, dtype=torch.float64).expand(64, 3, 3))
    torch.testing.assert_close(torch.linalg.det(R), torch.ones(64, dtype=torch.float64))
    # float32, as the training step runs it
    torch.testing.assert_close(axis_angle_to_rotation((axes * angle).float()),
                               axis_angle_to_rotation_matrix(axes * angle).float(), atol=2e-6, rtol=0)


def test_axis_angle_rotation_gradient_including_zero_angle():
    g = torch.Generator().manual_seed(3)
    vectors = torch.cat([torch.zeros(1, 3, dtype=torch.float64), torch.randn(4, 3, generator=g, dtype=torch.float64)])
    assert torch.autograd.gradcheck(axis_angle_to_rotation, (vectors.requires_grad_(),))
    # at zero the derivative along r_k is the k-th skew generator [e_k]x
    jac = torch.autograd.functional.jacobian(axis_angle_to_rotation, torch.zeros(3, dtype=torch.float64))
    generators = torch.tensor([[[0, 0, 0], [0, 0, -1], [0, 1, 0]],
                               [[0, 0, 1], [0, 0, 0], [-1, 0, 0]],
                               [[0, -1, 0], [1, 0, 0], [0, 0, 0]]], dtype=torch.float64)
    torch.testing.assert_close(jac.permute(2, 0, 1), generators)


def test_rigid_transform_layout():
    R = torch.arange(9.0).reshape(1, 1, 3, 3).expand(2, 5, 3, 3)
    t = torch.tensor([7.0, 8.0, 9.0]).expand(2, 5, 3)
    expected = torch.tensor([[0.0, 1, 2, 7], [3, 4, 5, 8], [6, 7, 8, 9], [0, 0, 0, 1]])
    assert torch.equal(rigid_transform(R, t), expected.expand(2, 5, 4, 4))


def test_pose_invert_is_inverse():
    g = torch.Generator().manual_seed(0)
    aa = torch.randn(4, 3, generator=g) * 0.3
    t = torch.randn(4, 3, generator=g)
    M = pose_vec_to_mat(aa, t)
    Minv = pose_vec_to_mat(aa, t, invert=True)
    assert torch.allclose(M @ Minv, torch.eye(4).expand(4, 4, 4), atol=1e-5)


def test_invert_rigid_matches_the_general_inverse():
    g = torch.Generator().manual_seed(1)
    T = pose_vec_to_mat(torch.randn(2, 3, 3, generator=g).reshape(6, 3), torch.randn(6, 3, generator=g) * 5)
    T = T.reshape(2, 3, 4, 4)
    torch.testing.assert_close(invert_rigid(T), torch.linalg.inv(T), atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match=r"\[\.\.\.,4,4\]"):
        invert_rigid(torch.eye(3))


def test_pose_rejects_bad_shape():
    with pytest.raises(ValueError, match="axisangle"):
        pose_vec_to_mat(torch.zeros(2, 4), torch.zeros(2, 3))


def test_project_with_depth_broadcasts_one_point_map_over_several_frames():
    # one batch of points [B,3,H,W] seen by F=2 cameras each [F,B,4,4]; reference: K (R P + t), then divide by z
    g = torch.Generator().manual_seed(4)
    points = torch.randn(2, 3, 4, 5, generator=g, dtype=torch.float64)
    points[:, 2] += 6.0  # in front of the cameras
    T = pose_vec_to_mat(0.2 * torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g)).double()
    T = T.reshape(2, 2, 4, 4)
    K = _K().double()
    pix, depth = project_with_depth(points, K, T)
    moved = torch.einsum("fbij,bjhw->fbihw", T[..., :3, :3], points) + T[..., :3, 3, None, None]
    cam = torch.einsum("bij,fbjhw->fbihw", K, moved)
    assert pix.shape == (2, 2, 4, 5, 2) and depth.shape == (2, 2, 1, 4, 5)
    torch.testing.assert_close(depth, moved[:, :, 2:3])
    torch.testing.assert_close(pix, (cam[:, :, :2] / cam[:, :, 2:3]).permute(0, 1, 3, 4, 2))
    torch.testing.assert_close(project(points, K, T[0]), pix[0])


def test_backproject_then_project_is_identity():
    K = _K()
    depth = torch.rand(2, 1, 12, 20) * 10 + 1
    pts = backproject(depth, invert_intrinsics(K))
    pix = project(pts, K, torch.eye(4).expand(2, 4, 4))
    v, u = torch.meshgrid(torch.arange(12.0), torch.arange(20.0), indexing="ij")
    assert torch.allclose(pix[..., 0], u.expand(2, -1, -1), atol=1e-4)
    assert torch.allclose(pix[..., 1], v.expand(2, -1, -1), atol=1e-4)
    assert torch.allclose(pts[:, 2:3], depth)


def test_backproject_accepts_4x4_inverse():
    K = _K(1)
    K4 = torch.eye(4).unsqueeze(0)
    K4[:, :3, :3] = K
    depth = torch.full((1, 1, 12, 20), 3.0)
    assert torch.allclose(backproject(depth, torch.linalg.inv(K4)), backproject(depth, invert_intrinsics(K)),
                          atol=1e-5)


def test_pure_translation_of_fronto_parallel_plane_shifts_pixels():
    # A plane at depth Z seen after moving the camera by tx to the right shifts every pixel by -fx*tx/Z.
    K = _K(1)
    Z, tx = 4.0, 0.5
    depth = torch.full((1, 1, 12, 20), Z)
    T = torch.eye(4).unsqueeze(0)
    T[0, 0, 3] = -tx  # points move left in the new camera when the camera moves right
    pix = project(backproject(depth, invert_intrinsics(K)), K, T)
    v, u = torch.meshgrid(torch.arange(12.0), torch.arange(20.0), indexing="ij")
    assert torch.allclose(pix[0, ..., 0], u - K[0, 0, 0] * tx / Z, atol=1e-4)
    assert torch.allclose(pix[0, ..., 1], v, atol=1e-4)


def test_transformed_depth_forward_motion():
    K = _K(1)
    depth = torch.rand(1, 1, 12, 20) + 5
    T = torch.eye(4).unsqueeze(0)
    T[0, 2, 3] = -1.5  # camera moves 1.5 forward
    assert torch.allclose(transformed_depth(depth, invert_intrinsics(K), T), depth - 1.5, atol=1e-5)


def test_bfloat16_is_supported():
    K = _K(1)
    depth = torch.full((1, 1, 12, 20), 2.0, dtype=torch.bfloat16)
    pts = backproject(depth, invert_intrinsics(K))
    pix = project(pts, K, pose_vec_to_mat(torch.zeros(1, 3, dtype=torch.bfloat16),
                                          torch.zeros(1, 3, dtype=torch.bfloat16)))
    assert pix.dtype == torch.bfloat16
    assert torch.allclose(pix[0, 5, 7].float(), torch.tensor([7.0, 5.0]), atol=0.1)


def test_gradients_flow_to_depth_and_pose():
    K = _K(1)
    depth = (torch.rand(1, 1, 12, 20) + 2).requires_grad_()
    aa = torch.zeros(1, 3, requires_grad=True)
    t = torch.tensor([[0.1, 0.0, 0.2]], requires_grad=True)
    pix = project(backproject(depth, invert_intrinsics(K)), K, pose_vec_to_mat(aa, t))
    pix.sum().backward()
    assert depth.grad.abs().sum() > 0 and aa.grad.abs().sum() > 0 and t.grad.abs().sum() > 0


def test_pixels_to_grid_conventions():
    pix = torch.tensor([[[[0.0, 0.0], [19.0, 11.0]]]])
    assert torch.allclose(pixels_to_grid(pix, 12, 20, align_corners=True), torch.tensor([[[[-1.0, -1.0],
                                                                                           [1.0, 1.0]]]]))
    grid = pixels_to_grid(pix, 12, 20, align_corners=False)
    assert torch.allclose(grid[0, 0, 0], torch.tensor([-1 + 1 / 20, -1 + 1 / 12]))
    # grid_sample at the converted coordinates reads exactly the pixel values in both conventions.
    img = torch.arange(240.0).reshape(1, 1, 12, 20)
    for ac in (True, False):
        g = pixels_to_grid(torch.tensor([[[[3.0, 7.0]]]]), 12, 20, align_corners=ac)
        val = torch.nn.functional.grid_sample(img, g, align_corners=ac)
        assert val.item() == pytest.approx(img[0, 0, 7, 3].item(), abs=1e-3)


def test_intrinsics_scaling_round_trips():
    K = make_intrinsics(700.0, 710.0, 600.0, 180.0)
    assert torch.allclose(pixel_to_normalized(normalized_to_pixel(KITTI_NORM, 192, 640), 192, 640), KITTI_NORM)
    half = intrinsics_at_scale(K, 1)
    assert torch.allclose(half, torch.tensor([[350.0, 0, 300], [0, 355, 90], [0, 0, 1]]))
    resized = resize_intrinsics(K, (375, 1242), (192, 640))
    assert resized[0, 0].item() == pytest.approx(700 * 640 / 1242)
    assert resized[1, 2].item() == pytest.approx(180 * 192 / 375)
    assert torch.allclose(invert_intrinsics(K) @ K, torch.eye(3), atol=1e-6)


def test_flip_intrinsics_mirrors_projection():
    w = 20
    K = make_intrinsics(15.0, 15.0, 8.3, 5.5).unsqueeze(0)
    Kf = flip_intrinsics(K, w)
    pts = torch.tensor([[1.0, -0.5, 4.0], [-2.0, 0.3, 7.0]]).T.reshape(1, 3, 1, 2)
    mirrored = pts * torch.tensor([-1.0, 1.0, 1.0]).reshape(1, 3, 1, 1)
    pix = project(pts, K)
    pix_f = project(mirrored, Kf)
    assert torch.allclose(pix_f[..., 0], (w - 1) - pix[..., 0], atol=1e-5)
    assert torch.allclose(pix_f[..., 1], pix[..., 1], atol=1e-5)


def test_scale_pixels_maps_each_axis_on_its_own():
    pix = torch.tensor([[[[2.0, 3.0], [-1.0, 0.5]]]])  # [1,1,2,2]
    out = scale_pixels(pix, (2.0, 10.0), (1.0, -3.0))
    torch.testing.assert_close(out, torch.tensor([[[[5.0, 27.0], [-1.0, 2.0]]]]))
