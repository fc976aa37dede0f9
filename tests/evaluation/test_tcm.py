import numpy as np
import pytest

from tcdepth.evaluation.tcm import (
    TCMSnippet,
    depth_pair_track,
    evaluate_snippet,
    evaluate_tcm,
    sample_bilinear,
    source_ids,
)

from . import scene


def make_snippet(centre: int, window: int) -> TCMSnippet:
    frame_ids = [0, *source_ids(window)]
    return TCMSnippet(
        name=f"frame{centre}",
        K=scene.K,
        depth={k: scene.depth(centre + k) for k in frame_ids},
        T_target_to_source={k: scene.target_to_source(centre, centre + k) for k in frame_ids[1:]},
        coords={k: scene.correspondences(centre, centre + k) for k in frame_ids[1:]},
    )


def test_source_ids():
    assert source_ids(3) == [-1, 1]
    assert source_ids(7) == [-1, 1, -2, 2, -3, 3]
    with pytest.raises(ValueError, match="window"):
        source_ids(4)


def test_sample_bilinear_pixel_centres_and_zero_padding():
    v, u = np.meshgrid(np.arange(5.0), np.arange(7.0), indexing="ij")
    image = 2.0 * u + 3.0 * v + 1.0
    coords = np.array([[[0.0, 0.0], [2.5, 1.25], [6.0, 4.0], [-3.0, 1.0], [3.0, 9.0]]])
    expected = [1.0, 2 * 2.5 + 3 * 1.25 + 1, 2 * 6 + 3 * 4 + 1, 0.0, 0.0]
    assert sample_bilinear(image, coords)[0] == pytest.approx(expected)


def test_depth_pair_track_closed_form():
    depth_t = np.full((scene.HEIGHT, scene.WIDTH), 4.0)
    v, u = np.meshgrid(np.arange(scene.HEIGHT, dtype=float), np.arange(scene.WIDTH, dtype=float), indexing="ij")
    identity_coords = np.stack([u, v], axis=-1)
    T = np.eye(4)
    T[2, 3] = -1.0  # the source camera is 1 m further forward
    track = depth_pair_track(depth_t, depth_t + 0.5, scene.K, T, identity_coords)
    ray = np.stack([(u - scene.K[0, 2]) / scene.K[0, 0], (v - scene.K[1, 2]) / scene.K[1, 1], np.ones_like(u)])
    assert track == pytest.approx(1.5 * np.linalg.norm(ray, axis=0))  # |(4 - 1) - 4.5| * ||K^-1 p||


def test_ground_truth_track_is_consistent():
    snippet = make_snippet(10, 7)
    for k in source_ids(7):
        track = depth_pair_track(snippet.depth[0], snippet.depth[k], scene.K, snippet.T_target_to_source[k],
                                 snippet.coords[k])
        inside = (snippet.coords[k][..., 0] >= 0) & (snippet.coords[k][..., 0] <= scene.WIDTH - 1) & \
                 (snippet.coords[k][..., 1] >= 0) & (snippet.coords[k][..., 1] <= scene.HEIGHT - 1)
        assert inside.mean() > 0.5
        # the plane is smooth; bilinear sampling of a depth map is exact only to second order
        assert np.abs(track[inside]).max() < 0.05


@pytest.mark.parametrize("window", [3, 5, 7])
def test_tcm_scores(window):
    snippets = [make_snippet(c, window) for c in (5, 9)]
    perfect = [dict(s.depth) for s in snippets]
    scaled = [{k: 2.5 * d for k, d in s.depth.items()} for s in snippets]
    jitter = [{k: (1.0 + 0.04 * k) * d for k, d in s.depth.items()} for s in snippets]
    exact = evaluate_tcm(snippets, perfect, window)
    assert exact.mean["abs"] == pytest.approx(0.0, abs=1e-5)  # predictions pass through float32 resizing
    assert exact.mean["rmse"] == pytest.approx(0.0, abs=1e-5)
    assert len(exact.pairs) == 2 * (window - 1) and not exact.empty
    assert evaluate_tcm(snippets, scaled, window).mean["abs"] == pytest.approx(0.0, abs=1e-5)
    jittered = evaluate_tcm(snippets, jitter, window).mean
    assert jittered["abs"] > 0.1 and jittered["rmse"] > jittered["abs"] * 0.5
    unscaled = evaluate_tcm(snippets, scaled, window, median_scaling=False).mean
    assert unscaled["abs"] > 0.3  # 1.5 x the forward motion of 0.5 m per frame


def test_mask_accumulates_over_sources():
    snippet = make_snippet(5, 3)
    corrupted = dict(snippet.depth)
    corrupted[-1] = np.zeros_like(snippet.depth[-1])  # every GT track to frame -1 is inconsistent
    snippet.depth = corrupted
    pred = {k: np.ones_like(d) for k, d in snippet.depth.items()}
    results = evaluate_snippet(snippet, pred, window=3)
    assert [(k, pixels) for k, _, pixels in results] == [(-1, 0), (1, 0)]


def test_missing_inputs_are_named(tmp_path):
    snippet = make_snippet(5, 3)
    del snippet.coords[1]
    with pytest.raises(ValueError, match=r"frame5: no coords for source frame \+1"):
        evaluate_snippet(snippet, {k: d for k, d in snippet.depth.items()}, window=3)
    snippet = make_snippet(5, 3)
    with pytest.raises(ValueError, match=r"no predicted depth for frames \[1\]"):
        evaluate_snippet(snippet, {0: snippet.depth[0], -1: snippet.depth[-1]}, window=3)
    with pytest.raises(ValueError, match="1 predictions for 2 TCM snippets"):
        evaluate_tcm([snippet, snippet], [snippet.depth])
