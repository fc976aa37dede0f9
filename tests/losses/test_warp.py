import torch

from tcdepth.losses import misaligned_pixels, reproject, warp_frame

H, W, FX = 10, 14, 8.0


def _K(b):
    K = torch.tensor([[FX, 0.0, 6.5], [0.0, FX, 4.5], [0.0, 0.0, 1.0]])
    return K.expand(b, 3, 3).clone()


def test_identity_pose_gives_back_the_image():
    b = 2
    image = torch.rand(b, 3, H, W)
    depth = torch.rand(b, 1, H, W) * 20 + 0.5
    K = _K(b)
    pix, z = reproject(depth, K, torch.linalg.inv(K), torch.eye(4).expand(1, b, 4, 4))
    warped = warp_frame(image, pix[0])
    assert torch.allclose(warped[..., 1:-1, 1:-1], image[..., 1:-1, 1:-1], atol=1e-5)
    assert torch.allclose(z[0], depth, rtol=1e-6)


def test_translation_of_fronto_parallel_plane_is_a_pixel_shift():
    b, depth_value, tx = 1, 4.0, 1.5  # shift = FX * tx / Z = 3 px
    image = torch.rand(b, 3, H, W)
    depth = torch.full((b, 1, H, W), depth_value)
    T = torch.eye(4).expand(1, b, 4, 4).clone()
    T[..., 0, 3] = tx
    K = _K(b)
    pix, z = reproject(depth, K, torch.linalg.inv(K), T)
    warped = warp_frame(image, pix[0])
    assert torch.allclose(warped[..., : W - 3], image[..., 3:], atol=1e-5)
    # border padding repeats the last column where the shifted pixel leaves the image
    assert torch.allclose(warped[..., W - 3:], image[..., W - 1:].expand(-1, -1, -1, 3), atol=1e-5)
    assert torch.allclose(z, depth.unsqueeze(0))


def test_forward_motion_changes_depth_in_source():
    b = 1
    depth = torch.full((b, 1, H, W), 5.0)
    T = torch.eye(4).expand(2, b, 4, 4).clone()
    T[0, :, 2, 3] = -1.0
    T[1, :, 2, 3] = 2.0
    K = _K(b)
    _, z = reproject(depth, K, torch.linalg.inv(K), T)
    assert torch.allclose(z[0], torch.full_like(depth, 4.0))
    assert torch.allclose(z[1], torch.full_like(depth, 7.0))


def test_zeros_padding_outside_the_image():
    image = torch.ones(1, 1, H, W)
    pix = torch.full((1, 2, 3, 2), -5.0)
    assert torch.all(warp_frame(image, pix, padding_mode="zeros") == 0)


def test_misaligned_pixels_reproduce_align_corners_mismatch():
    # Sampling a ramp image I(u) = u at the pixel the reference reads gives u * W / (W - 1) - 0.5.
    u = torch.arange(W, dtype=torch.float64)
    ramp = u.expand(1, 1, H, W).clone()
    v = torch.arange(H, dtype=torch.float64)
    pix = torch.stack(torch.meshgrid(u, v, indexing="xy"), dim=-1).unsqueeze(0)  # [1,H,W,2]
    sampled = warp_frame(ramp, misaligned_pixels(pix, H, W), padding_mode="zeros")
    interior = slice(1, W - 1)
    expected = (u * W / (W - 1) - 0.5)[interior]
    assert torch.allclose(sampled[0, 0, 3, interior], expected, atol=1e-9)
    reference = torch.nn.functional.grid_sample(
        ramp, 2 * pix / torch.tensor([W - 1, H - 1], dtype=torch.float64) - 1, align_corners=False
    )
    assert torch.allclose(sampled, reference, atol=1e-9)
