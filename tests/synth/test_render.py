import itertools

import numpy as np

from tcdepth.synth import SynthConfig, build_scene, render_sequence
from tcdepth.synth.textures import texture_library


def test_same_seed_same_frames_other_seed_other_frames(tiny_cfg, tiny_frames):
    again = list(itertools.islice(render_sequence(tiny_cfg, seed=5), 3))
    for a, b in zip(again, tiny_frames[:3], strict=True):
        np.testing.assert_array_equal(a.rgb, b.rgb)
        np.testing.assert_array_equal(a.depth, b.depth)
        np.testing.assert_array_equal(a.pose, b.pose)
    other = next(iter(render_sequence(tiny_cfg, seed=6)))
    assert np.abs(other.rgb.astype(int) - tiny_frames[0].rgb).mean() > 5


def test_frame_contents(tiny_cfg, tiny_frames):
    frame = tiny_frames[0]
    assert frame.rgb.shape == (64, 192, 3) and frame.rgb.dtype == np.uint8
    assert frame.depth.shape == (64, 192) and frame.depth.dtype == np.float32
    sky = np.isinf(frame.depth)
    assert sky[:5].any() and not sky[-5:].any()
    assert (frame.depth[~sky] > 0).all()
    assert frame.rgb.std() > 20  # textured, not flat colour


def test_flat_road_depth_matches_closed_form(tiny_cfg, tiny_frames):
    K = tiny_cfg.intrinsics()
    rows = np.arange(tiny_cfg.height - 5, tiny_cfg.height)
    cols = slice(tiny_cfg.width // 3, 2 * tiny_cfg.width // 3)
    for frame in tiny_frames[::4]:
        np.testing.assert_allclose(frame.pose[1, :3], [0, 1, 0], atol=1e-12)  # level camera
        expected = tiny_cfg.camera_height / ((rows - K.cy) / K.fy)
        np.testing.assert_allclose(frame.depth[rows, cols], np.broadcast_to(expected[:, None], (5, 64)), rtol=1e-5)


def test_sequence_contains_a_stop_with_identical_poses():
    cfg = SynthConfig(width=32, height=16, frames=40, static_frames=6)
    scene = build_scene(cfg, seed=11)
    poses = np.stack([scene.camera_pose(i) for i in range(cfg.frames)])
    same = np.all(poses[1:] == poses[:-1], axis=(1, 2))
    longest = max(len(run) for run in "".join("1" if s else "0" for s in same).split("0"))
    assert longest >= cfg.static_frames - 1
    assert not same.all()


def test_moving_cars_are_masked_and_move(tiny_frames):
    masked = [f for f in tiny_frames if f.moving_mask.any()]
    assert masked, "the tiny sequence should show a moving car"
    frame = masked[0]
    obj = int(frame.object_ids[frame.moving_mask][0])
    poses = np.stack([f.object_poses[obj] for f in tiny_frames])
    assert np.linalg.norm(poses[-1, :3, 3] - poses[0, :3, 3]) > 5.0


def test_frames_do_not_depend_on_threads(tiny_cfg, tiny_frames):
    threaded = list(itertools.islice(render_sequence(tiny_cfg, seed=5, threads=3), 4))
    for a, b in zip(threaded, tiny_frames[:4], strict=True):
        np.testing.assert_array_equal(a.rgb, b.rgb)
        np.testing.assert_array_equal(a.depth, b.depth)
        np.testing.assert_array_equal(a.object_ids, b.object_ids)


def test_texture_sample_matches_per_pixel_lookup():
    texture = texture_library()["photo:chelsea"]  # 300 x 451: rows and columns wrap at different periods
    rng = np.random.default_rng(0)
    u, v = rng.uniform(-3, 3, (2, 500)).astype(np.float32)
    footprint = texture.texel * 2.0 ** rng.uniform(-2, 8, 500)
    expected = []
    for ui, vi, fi in zip(u, v, footprint, strict=True):
        level = min(max(int(np.floor(np.log2(max(fi / texture.texel, 1e-6)))), 0), len(texture.levels) - 1)
        image = texture.levels[level]
        size = np.float32(texture.texel * 2**level)
        expected.append(image[int(np.floor(vi / size)) % image.shape[0], int(np.floor(ui / size)) % image.shape[1]])
    np.testing.assert_array_equal(texture.sample(u, v, footprint), np.array(expected))
