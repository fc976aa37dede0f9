import numpy as np
import pytest

from tcdepth.synth import correspondences


def _static_prediction(source, target, K):
    """Back-project with depth, move with the camera poses only, project (written here, independent)."""
    h, w = source.depth.shape
    v, u = np.mgrid[0:h, 0:w].astype(np.float64)
    z = np.where(np.isfinite(source.depth), source.depth, np.nan).astype(np.float64)
    cam = np.stack([(u - K[0, 2]) / K[0, 0] * z, (v - K[1, 2]) / K[1, 1] * z, z, np.ones_like(z)], axis=-1)
    rel = np.linalg.inv(target.pose) @ source.pose
    with np.errstate(invalid="ignore"):
        moved = cam @ rel.T
    return np.stack([K[0, 0] * moved[..., 0] / moved[..., 2] + K[0, 2],
                     K[1, 1] * moved[..., 1] / moved[..., 2] + K[1, 2]], axis=-1)


@pytest.mark.parametrize("k", [1, -2, 3])
def test_static_pixels_follow_the_camera_exactly(tiny_cfg, tiny_frames, k):
    K = tiny_cfg.intrinsics().K().double().numpy()
    t = 5
    coords, visible = correspondences(tiny_frames[t], tiny_frames[t + k], K)
    static = np.isfinite(tiny_frames[t].depth) & ~tiny_frames[t].moving_mask
    expected = _static_prediction(tiny_frames[t], tiny_frames[t + k], K)
    np.testing.assert_allclose(coords[static], expected[static], atol=2e-3)
    in_view = static & (expected[..., 0] >= 0) & (expected[..., 0] <= 191) & (expected[..., 1] >= 0) & (
        expected[..., 1] <= 63)
    assert visible[in_view].mean() > 0.8


def test_moving_pixels_use_object_motion(tiny_cfg, tiny_frames):
    K = tiny_cfg.intrinsics().K().double().numpy()
    t = next(i for i, f in enumerate(tiny_frames[:-3]) if f.moving_mask.sum() > 10)
    source, target = tiny_frames[t], tiny_frames[t + 3]
    coords, visible = correspondences(source, target, K)
    moving = source.moving_mask
    static_guess = _static_prediction(source, target, K)
    assert np.median(np.linalg.norm(coords[moving] - static_guess[moving], axis=-1)) > 0.5
    # where a moving pixel is visible, the target pixel shows the same car
    seen = moving & visible
    assert seen.any()
    u = np.round(coords[seen][:, 0]).astype(int)
    v = np.round(coords[seen][:, 1]).astype(int)
    assert (target.object_ids[v, u] == source.object_ids[seen]).mean() > 0.9


def test_pixels_leaving_the_image_are_not_visible(tiny_cfg, tiny_frames):
    K = tiny_cfg.intrinsics().K().double().numpy()
    coords, visible = correspondences(tiny_frames[2], tiny_frames[5], K)
    outside = ~((coords[..., 0] >= 0) & (coords[..., 0] <= 191) & (coords[..., 1] >= 0) & (coords[..., 1] <= 63))
    assert outside.sum() > 50
    assert not visible[outside].any()


def test_sky_moves_by_rotation_only(tiny_cfg, tiny_frames):
    K = tiny_cfg.intrinsics().K().double().numpy()
    source, target = tiny_frames[0], tiny_frames[-1]
    coords, _ = correspondences(source, target, K)
    sky = np.isinf(source.depth)
    v, u = np.nonzero(sky)
    rays = np.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], np.ones_like(u, float)], axis=-1)
    d = rays @ source.pose[:3, :3].T @ target.pose[:3, :3]
    expected = np.stack([K[0, 0] * d[:, 0] / d[:, 2] + K[0, 2], K[1, 1] * d[:, 1] / d[:, 2] + K[1, 2]], axis=-1)
    np.testing.assert_allclose(coords[sky], expected, atol=1e-3)


def test_visibility_of_static_pixels_matches_a_per_pixel_check(tiny_cfg, tiny_frames):
    """Visible = in view and one of the 4 target pixels around the projection within 3% of the moved depth."""
    K = tiny_cfg.intrinsics().K().double().numpy()
    source, target = tiny_frames[4], tiny_frames[6]
    _, visible = correspondences(source, target, K, tolerance=0.03)
    expected = _static_prediction(source, target, K)
    h, w = source.depth.shape
    v, u = np.mgrid[0:h, 0:w].astype(np.float64)
    z = np.where(np.isfinite(source.depth), source.depth, np.nan).astype(np.float64)
    cam = np.stack([(u - K[0, 2]) / K[0, 0] * z, (v - K[1, 2]) / K[1, 1] * z, z, np.ones_like(z)], axis=-1)
    with np.errstate(invalid="ignore"):
        moved_z = (cam @ (np.linalg.inv(target.pose) @ source.pose).T)[..., 2]
    agree = checked = 0
    for y, x in zip(*np.nonzero(np.isfinite(source.depth) & ~source.moving_mask), strict=True):
        eu, ev = expected[y, x]
        naive = False
        if 0 <= eu <= w - 1 and 0 <= ev <= h - 1:
            corners = {(int(np.floor(ev)), int(np.floor(eu))), (int(np.floor(ev)), int(np.ceil(eu))),
                       (int(np.ceil(ev)), int(np.floor(eu))), (int(np.ceil(ev)), int(np.ceil(eu)))}
            naive = any(abs(float(target.depth[r, c]) - moved_z[y, x]) <= 0.03 * moved_z[y, x] for r, c in corners)
        agree += naive == visible[y, x]
        checked += 1
    assert checked > 5000 and visible.mean() > 0.5
    assert agree / checked > 0.999
