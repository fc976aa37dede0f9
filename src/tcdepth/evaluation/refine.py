"""Test-time refinement (TTR): fine-tune on one test sequence with the self-supervised loss before predicting it.

Recipe (spec 6.3 leaves the paper's unspecified; we follow ManyDepth / McCraith et al.): ``steps`` Adam steps of
``batch_size`` triplets drawn from the sequence's test frames, without augmentation, on the training objective of
the run (:meth:`tcdepth.training.module.DepthModule.compute_loss`) with the motion loss off (there is no teacher at
test time). ``update="encoders"`` updates only the depth and pose encoders, ``"all"`` every depth and pose
parameter. BatchNorm layers keep their running statistics (eval mode): a batch from one sequence is too small and
too correlated to re-estimate them. The weights are restored after every sequence, so nothing leaks from one
sequence into the next (:meth:`Refiner.refined` is a context manager).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Literal

import torch
from torch import nn
from torch.utils.data import default_collate

from tcdepth.data.frames import FrameRef, FrameSource, FrameSourceDataset


@dataclass
class RefineConfig:
    """Settings of test-time refinement (defaults chosen on synthetic data, docs/evaluation.md)."""

    steps: int = 20
    learning_rate: float = 1e-5
    update: Literal["encoders", "all"] = "encoders"
    batch_size: int = 4
    seed: int = 0

    def __post_init__(self):
        if self.steps < 1:
            raise ValueError(f"refine steps must be >= 1, got {self.steps}")
        if self.learning_rate <= 0:
            raise ValueError(f"refine learning_rate must be positive, got {self.learning_rate}")
        if self.update not in ("encoders", "all"):
            raise ValueError(f"refine update must be 'encoders' or 'all', got {self.update!r}")
        if self.batch_size < 1:
            raise ValueError(f"refine batch_size must be >= 1, got {self.batch_size}")


@dataclass
class RefineReport:
    """Loss of every refinement step of one sequence (empty when the sequence had no complete triplet)."""

    sequence: str
    samples: int
    losses: list[float] = field(default_factory=list)


class Refiner:
    """Holds the depth and pose networks and the objective of a run; refines them per sequence."""

    def __init__(self, experiment, depth_net: nn.Module, pose_net: nn.Module, config: RefineConfig | None = None):
        from tcdepth.experiment import TeacherConfig
        from tcdepth.training.module import DepthModule

        self.config = config or RefineConfig()
        experiment = replace(experiment, loss=replace(experiment.loss, use_motion_loss=False),
                             train=replace(experiment.train, teacher=TeacherConfig(mode="none")))
        self.module = DepthModule(experiment)
        self.module.depth_net = depth_net
        self.module.pose_net = pose_net
        self.frame_ids = list(experiment.data.frame_ids)
        self.scales = sorted(set(experiment.loss.scales) | {0})

    def parameters(self) -> list[nn.Parameter]:
        if self.config.update == "all":
            return [*self.module.depth_net.parameters(), *self.module.pose_net.parameters()]
        return [*self.module.depth_net.encoder.parameters(), *self.module.pose_net.encoder.parameters()]

    @contextmanager
    def refined(self, store: FrameSource, centres: Sequence[FrameRef], height: int, width: int
                ) -> Iterator[RefineReport]:
        """Refine on ``centres`` (one sequence) inside the ``with`` block; the weights are restored on exit."""
        saved = copy.deepcopy(self.module.state_dict())
        flags = {p: p.requires_grad for p in self.module.parameters()}
        try:
            yield self._refine(store, centres, height, width)
        finally:
            self.module.load_state_dict(saved)
            for parameter, flag in flags.items():
                parameter.requires_grad_(flag)
            self.module.eval()

    def _refine(self, store: FrameSource, centres: Sequence[FrameRef], height: int, width: int) -> RefineReport:
        dataset = FrameSourceDataset(store, centres, height, width, self.frame_ids, self.scales)
        report = RefineReport(centres[0].sequence if centres else "", len(dataset))
        if not len(dataset):
            return report
        cfg = self.config
        trainable = self.parameters()
        self.module.requires_grad_(False)
        for parameter in trainable:
            parameter.requires_grad_(True)
        self.module.eval()
        optimizer = torch.optim.Adam(trainable, lr=cfg.learning_rate)
        generator = torch.Generator().manual_seed(cfg.seed)
        with torch.enable_grad():
            for _ in range(cfg.steps):
                picks = torch.randperm(len(dataset), generator=generator)[:cfg.batch_size]
                batch = default_collate([dataset[int(i)] for i in picks])
                total = self.module.compute_loss(batch)[0]
                if not torch.isfinite(total):
                    raise ValueError(f"test-time refinement of {report.sequence}: non-finite loss; lower the "
                                     "refinement learning rate")
                optimizer.zero_grad(set_to_none=True)
                total.backward()
                optimizer.step()
                report.losses.append(float(total.detach()))
        return report
