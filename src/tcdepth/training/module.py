"""The Lightning module: one self-supervised training step of TC-Depth or of the Monodepth2 baseline."""

from __future__ import annotations

import contextlib
import time
import warnings
from dataclasses import replace

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_info

from tcdepth.experiment import ExperimentConfig
from tcdepth.geometry import disp_to_depth, pose_vec_to_mat
from tcdepth.losses import monodepth2_loss, tcdepth_loss
from tcdepth.models import (
    build_model,
    build_pose_net,
    import_official,
    is_official_folder,
    load_decoder_from,
    load_encoder_from,
    load_state_exactly,
)
from tcdepth.runs import load_depth_network, load_trained_model


class NonFiniteLossError(RuntimeError):
    """Raised when too many steps produced a NaN or infinite loss."""


class DepthModule(L.LightningModule):
    """Depth network, pose network and (optionally) the Monodepth2 teacher, trained with the configured objective.

    ``model.architecture == "tcdepth"`` trains the triplet model with the full TC-Depth objective;
    ``"monodepth2"`` trains the single-frame baseline (which is also the teacher of a later TC-Depth run).
    """

    def __init__(self, cfg: ExperimentConfig):
        super().__init__()
        self.cfg = cfg
        self.depth_net = build_model(cfg.model)
        self.pose_net = build_pose_net(cfg.model)
        self.teacher, self.teacher_config = self._build_teacher()
        self.frame_ids = list(cfg.data.frame_ids)
        self.nonfinite_steps = 0
        self._last_step_time: float | None = None
        if cfg.train.channels_last:
            self.to(memory_format=torch.channels_last)

    # ----------------------------------------------------------------------------------------------- set-up
    def initialise_from(self, path: str, parts: list[str]) -> None:
        """Copy the weights of the run at ``path`` (``train.init_from``) into the networks that ``parts``
        (``train.init_parts``) names: ``depth`` the whole depth network, ``encoder`` its encoder only, ``decoder``
        its decoder stages aligned from the finest (:func:`tcdepth.models.load_decoder_from`), ``pose`` the pose
        network when the source has one (else the pose network keeps its initialisation)."""
        source = load_trained_model(path)
        if "depth" in parts:
            load_state_exactly(self.depth_net, source.depth_net.state_dict(),
                               f"train.init_from {path}: its depth network does not fit the model section")
        if "encoder" in parts:
            load_encoder_from(self.depth_net, source.depth_net.state_dict(),
                              f"train.init_from {path}: its depth encoder does not hold this model's encoder")
        if "decoder" in parts:
            kept = load_decoder_from(self.depth_net, source.depth_net.state_dict(),
                                     f"train.init_from {path}: its depth decoder does not hold this model's stages")
            if kept:
                rank_zero_info(f"train.init_from {path}: decoder tensors of another shape, not copied: {kept}")
        if "pose" in parts and source.pose_net is not None:
            load_state_exactly(self.pose_net, source.pose_net.state_dict(),
                               f"train.init_from {path}: its pose network does not fit the model section")

    def _build_teacher(self):
        """``(teacher network, its ModelConfig)``, or ``(None, None)`` when the run has no teacher."""
        teacher_cfg = self.cfg.train.teacher
        if self.cfg.model.architecture != "tcdepth" or teacher_cfg.mode == "none":
            return None, None
        if teacher_cfg.mode == "checkpoint":
            teacher, model_cfg = self._load_teacher(0)
            teacher.requires_grad_(False)
            return teacher.train(teacher_cfg.batch_statistics), model_cfg
        model_cfg = replace(self.cfg.model, architecture="monodepth2", encoder="resnet18", pretrained=None,
                            upsample_mode=teacher_cfg.upsample_mode or "nearest")
        return build_model(model_cfg), model_cfg

    def _load_teacher(self, epoch: int):
        """The checkpoint teacher's network for epoch ``epoch`` and its ModelConfig, with the configured
        upsampling: from a tcdepth run directory or weights file, or an official Monodepth2 checkpoint folder
        (``encoder.pth``, ``depth.pth``; :func:`tcdepth.models.import_official`)."""
        teacher_cfg = self.cfg.train.teacher
        path = teacher_cfg.path_at(epoch)
        if path.is_dir() and is_official_folder(path):
            imported = import_official(path)
            teacher, model_cfg = imported.depth_net, imported.model
        else:
            teacher, model_cfg = load_depth_network(path)
        if model_cfg.architecture != "monodepth2":
            raise ValueError(f"train.teacher.path {path}: expected Monodepth2 weights, got architecture "
                             f"{model_cfg.architecture!r}")
        if teacher_cfg.upsample_mode not in (None, model_cfg.upsample_mode):
            model_cfg = replace(model_cfg, upsample_mode=teacher_cfg.upsample_mode)
            resampled = build_model(model_cfg)
            resampled.load_state_dict(teacher.state_dict())
            teacher = resampled
        return teacher, model_cfg

    def train(self, mode: bool = True):
        super().train(mode)
        teacher_cfg = self.cfg.train.teacher
        if self.teacher is not None and teacher_cfg.mode == "checkpoint" and not teacher_cfg.batch_statistics:
            self.teacher.eval()  # a frozen teacher runs with its running statistics unless configured otherwise
        return self

    # ----------------------------------------------------------------------------------------------- checkpoints
    def _frozen_teacher_keys(self) -> list[str]:
        if self.teacher is None or self.cfg.train.teacher.mode != "checkpoint":
            return []
        return [f"teacher.{key}" for key in self.teacher.state_dict()]

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        """A frozen teacher is rebuilt from ``train.teacher.path``: its weights stay out of the checkpoint."""
        for key in self._frozen_teacher_keys():
            checkpoint["state_dict"].pop(key, None)

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        teacher = self.state_dict()
        for key in self._frozen_teacher_keys():
            checkpoint["state_dict"].setdefault(key, teacher[key])

    def on_train_epoch_start(self) -> None:
        """Reload a per-epoch teacher (``train.teacher.path`` with ``{epoch}``) for the epochs that use it."""
        if (self.teacher is not None and self.cfg.train.teacher.per_epoch
                and self.cfg.loss.motion_active(self.current_epoch)):
            self.teacher.load_state_dict(self._load_teacher(self.current_epoch)[0].state_dict())

    def configure_optimizers(self):
        params = [p for name, p in self.named_parameters() if p.requires_grad and not name.startswith("teacher.")]
        if self.teacher is not None and self.cfg.train.teacher.mode == "joint":
            params += list(self.teacher.parameters())
        t = self.cfg.train
        # On a GPU, fused Adam updates every parameter in one kernel launch instead of a few per parameter group
        # (the eager step is bound by the host's launches); elsewhere PyTorch's default implementation. Fused Adam
        # unscales float16 gradients inside its step, so with 16-mixed and clipping (clipped before the step) not.
        clipped_fp16 = t.grad_clip is not None and t.precision == "16-mixed"
        fused = True if self.device.type == "cuda" and not clipped_fp16 else None
        optimizer = torch.optim.Adam(params, lr=t.learning_rate, betas=t.betas, weight_decay=t.weight_decay,
                                     fused=fused)
        scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=t.milestones, gamma=t.gamma)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}

    # ----------------------------------------------------------------------------------------------- forward
    def predict_poses(self, frames: torch.Tensor) -> dict[int, torch.Tensor]:
        """``T_{0->f}`` for every source frame f, from frames ``[B,V,3,H,W]`` in ``frame_ids`` order."""
        centre = frames[:, self.frame_ids.index(0)]
        poses = {}
        for v, f in enumerate(self.frame_ids):
            if f == 0:
                continue
            if f < 0:
                axisangle, translation = self.pose_net(frames[:, v], centre)
            else:
                axisangle, translation = self.pose_net(centre, frames[:, v])
            poses[f] = pose_vec_to_mat(axisangle, translation, invert=f < 0)
        return poses

    def forward_depth(self, batch: dict, return_attention: bool = False) -> dict:
        """Depth outputs in the TC-Depth layout (``disp`` scales of ``[B,V,1,h,w]``) for either architecture."""
        return self.depth_net.depth_outputs(batch["color_aug_0"], batch["K_0"], return_attention=return_attention)

    def teacher_disparities(self, batch: dict) -> list[torch.Tensor] | None:
        """The teacher's sigmoid disparities of the centre frame (all scales), or None when it is not needed.

        A frozen teacher runs without gradients and only inside the motion-loss epochs; a jointly trained one runs
        every step, since it learns from its own Monodepth2 objective.
        """
        if self.teacher is None:
            return None
        centre = batch["color_aug_0"][:, self.frame_ids.index(0)]
        if self.cfg.train.teacher.mode == "joint":
            return self.teacher(centre)["disp"]
        if not self.cfg.loss.motion_active(self.current_epoch):
            return None
        with torch.no_grad():
            return self.teacher(centre)["disp"]

    def in_pose_warmup(self) -> bool:
        """Whether this training step is inside ``train.pose_warmup_steps`` (the depth network gets no gradient)."""
        return self.training and self.global_step < self.cfg.train.pose_warmup_steps

    def compute_loss(self, batch: dict, with_images: bool = False):
        """Total loss, its detached terms, the depth outputs and the masks (only ``with_images``)."""
        with torch.no_grad() if self.in_pose_warmup() else contextlib.nullcontext():
            outputs = self.forward_depth(batch, return_attention=with_images)
        poses = self.predict_poses(batch["color_aug_0"])
        if self.cfg.model.architecture == "monodepth2":
            single = {"disp": [d[:, 0] for d in outputs["disp"]]}
            result = monodepth2_loss(batch, single, poses, self.cfg.loss, return_masks=with_images)
            return result.total, result.terms, outputs, result.masks
        teacher_disps = self.teacher_disparities(batch)
        teacher_disp = teacher_disps[0].detach() if teacher_disps is not None else None
        result = tcdepth_loss(batch, outputs, poses, teacher_disp, self.current_epoch, self.cfg.loss,
                          return_masks=with_images)
        total, terms = result.total, dict(result.terms)
        if self.cfg.train.teacher.mode == "joint":
            detached_poses = {f: p.detach() for f, p in poses.items()}
            teacher_total = monodepth2_loss(batch, {"disp": teacher_disps}, detached_poses, self.cfg.loss).total
            total = total + teacher_total
            terms["teacher"] = teacher_total.detach()
        return total, terms, outputs, result.masks

    def training_step(self, batch: dict, batch_idx: int):
        with_images = self.global_step % self.cfg.train.image_every_steps == 0
        total, terms, outputs, extras = self.compute_loss(batch, with_images=with_images)
        finite = torch.isfinite(total.detach()).float()
        if self.trainer.world_size > 1:
            finite = self.trainer.strategy.reduce(finite, reduce_op="min")
        if finite.item() < 1:
            self.nonfinite_steps += 1
            warnings.warn(f"step {self.global_step}: non-finite loss, step skipped "
                          f"({self.nonfinite_steps}/{self.cfg.train.max_nonfinite_steps})", stacklevel=1)
            self.log("train/nonfinite_steps", float(self.nonfinite_steps))
            if self.nonfinite_steps >= self.cfg.train.max_nonfinite_steps:
                raise NonFiniteLossError(
                    f"{self.nonfinite_steps} steps had a NaN or infinite loss; stopping. Lower train.learning_rate, "
                    "set train.grad_clip, or use train.precision=32-true / bf16-mixed instead of 16-mixed.")
            return None
        batch_size = batch["color_0"].shape[0]
        self.log("train/loss", total.detach(), prog_bar=True, batch_size=batch_size)
        for name, value in terms.items():
            self.log(f"train/{name}", value, batch_size=batch_size)
        self._log_throughput(batch_size)
        if with_images:
            self._log_images(batch, outputs, extras)
        return total

    def _log_throughput(self, batch_size: int) -> None:
        now = time.perf_counter()
        if self._last_step_time is not None:
            rate = batch_size * self.trainer.world_size / max(now - self._last_step_time, 1e-9)
            self.log("samples_per_s", rate, prog_bar=True, batch_size=batch_size)
        self._last_step_time = now

    def validation_step(self, batch: dict, batch_idx: int):
        """abs_rel and a1 of the centre frame by the Eigen protocol (median scaling, 80 m cap, no crop)."""
        from tcdepth.metrics import EigenOptions, evaluate_image

        if "depth_gt" not in batch:
            return None
        outputs = self.forward_depth(batch)
        centre = self.frame_ids.index(0)
        scaled_disp, _ = disp_to_depth(outputs["disp"][0][:, centre, 0].float(), self.cfg.model.min_depth,
                                       self.cfg.model.max_depth)
        options = EigenOptions(crop="none")
        results = [evaluate_image(g, d, options).metrics
                   for g, d in zip(batch["depth_gt"][:, 0].float().cpu().numpy(), scaled_disp.cpu().numpy(),
                                   strict=True)
                   if ((g > options.min_depth) & (g < options.max_depth)).any()]
        if results:
            n = len(results)
            self.log("val/abs_rel", sum(r["abs_rel"] for r in results) / n, prog_bar=True, batch_size=n,
                     sync_dist=True)
            self.log("val/a1", sum(r["a1"] for r in results) / n, batch_size=n, sync_dist=True)

    # ----------------------------------------------------------------------------------------------- logging
    def _log_images(self, batch: dict, outputs: dict, extras: dict) -> None:
        from lightning.pytorch.loggers import TensorBoardLogger

        from tcdepth.visualize import colorize

        loggers = [lg for lg in self.loggers if isinstance(lg, TensorBoardLogger)]
        if not loggers:
            return
        writer = loggers[0].experiment
        step = self.global_step
        centre = self.frame_ids.index(0)
        writer.add_image("color/centre", batch["color_0"][0, centre].float().clamp(0, 1), step)
        disp = outputs["disp"][0][0, centre, 0].detach().float().cpu().numpy()
        writer.add_image("depth/disparity", colorize(disp), step, dataformats="HWC")
        for name, mask in (extras or {}).items():
            if torch.is_tensor(mask) and mask.dim() == 4:
                writer.add_image(f"mask/{name}", mask[0].float().clamp(0, 1), step)
        h, w = (size // 8 for size in batch["color_0"].shape[-2:])
        for name, amap in (outputs.get("attention") or {}).items():
            weights = amap[0] if amap.dim() == 3 else amap[0, 0]  # [N,N] for the first sample
            row = weights[(h // 2) * w + w // 2].detach().float().reshape(h, w)  # where the centre pixel looks
            writer.add_image(f"attention/{name}", colorize(row.cpu().numpy(), cmap="viridis"), step,
                             dataformats="HWC")
