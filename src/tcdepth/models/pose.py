"""Pose network of Monodepth2 ("separate_resnet"): an encoder on two stacked frames and a small conv decoder."""

from __future__ import annotations

import torch
from torch import nn

from tcdepth.models.config import POSE_ENCODERS
from tcdepth.models.efficientnet import EfficientNetLite0Encoder
from tcdepth.models.resnet import ResNetEncoder


class PoseDecoder(nn.Module):
    """Deepest feature ``[B,C,h,w]`` -> axis-angle ``[B,3]`` and translation ``[B,3]`` (spec 1.5).

    1x1 squeeze to 256 + ReLU, two 3x3 convs + ReLU, 1x1 to 12 (two 6-vectors, only the first is used), spatial
    mean, x0.01.
    """

    def __init__(self, in_channels: int):
        super().__init__()
        self.squeeze = nn.Conv2d(in_channels, 256, 1)
        self.pose = nn.Sequential(nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(inplace=True),
                                  nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(inplace=True),
                                  nn.Conv2d(256, 12, 1))
        self.relu = nn.ReLU()

    def forward(self, feature: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.pose(self.relu(self.squeeze(feature))).mean(dim=(2, 3))
        out = 0.01 * out.reshape(-1, 2, 6)[:, 0]
        return out[:, :3], out[:, 3:]


class PoseNet(nn.Module):
    """Relative motion between two frames given in temporal order.

    ``T_{0->+1} = pose_vec_to_mat(*pose_net(I_0, I_+1))``, ``T_{0->-1} = pose_vec_to_mat(*pose_net(I_-1, I_0),
    invert=True)``.
    """

    def __init__(self, encoder: str = "resnet18"):
        super().__init__()
        if encoder not in POSE_ENCODERS:
            raise ValueError(f"pose encoder must be one of {POSE_ENCODERS}, got {encoder!r}")
        if encoder == "efficientnet_lite0":
            self.encoder = EfficientNetLite0Encoder(num_input_images=2, output_stride=32)
            channels = self.encoder.num_ch_ctx
        else:
            self.encoder = ResNetEncoder(int(encoder.removeprefix("resnet")), num_input_images=2)
            channels = self.encoder.num_ch_enc[-1]
        self.decoder = PoseDecoder(channels)

    def forward(self, image_a: torch.Tensor, image_b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``image_a, image_b [B,3,H,W]`` in ``[0, 1]`` -> ``(axisangle [B,3], translation [B,3])``."""
        if image_a.shape != image_b.shape or image_a.dim() != 4 or image_a.shape[1] != 3:
            raise ValueError(f"PoseNet expects two images [B,3,H,W] of the same shape, got {tuple(image_a.shape)} "
                             f"and {tuple(image_b.shape)}")
        return self.decoder(self.encoder(torch.cat([image_a, image_b], dim=1))[-1])
