"""Which half of self-supervised training is stuck? Overfit one synthetic batch with ground truth standing in for
the depth or the pose network.

Modes (each starts from the same fresh networks and batch):

* ``ground_truth``: no training; the objective with ground-truth depth and ground-truth poses (the floor).
* ``depth_given_poses``: only the depth network trains; the poses are the ground truth.
* ``pose_given_depth``: only the pose network trains; the depth is the ground truth.
* ``joint``: both train, as in ``tcdepth train``.

Ground truth is rescaled from metres to network units so that the median depth of the batch sits at the depth of a
sigmoid output of 0.5 (where a fresh network starts); translations get the same factor. Prints one JSON line per
mode and logged step: the objective, abs_rel of the centre depth on the batch (median-scaled, 80 m cap), the
mean translation length of the predicted and ground-truth poses (network units) and the mean cosine between
predicted and ground-truth translation directions (over samples that move).

``--pose-input-scale s`` feeds the pose network the frames of pyramid level ``s`` (``color_aug_{s}``,
``H/2^s x W/2^s``) instead of the full-resolution ones; the loss is unchanged.

The single-frame Monodepth2 objective and networks are used (the TC-Depth objective needs the depth of all three
views and a teacher).
Usage: python benchmarks/overfit_diagnosis.py configs/synthetic_tiny_monodepth2.yaml data.path=DATA
          [--steps 150] [--lr 2e-4] [--batch 4] [--modes ...] [--log-every 25] [--pose-input-scale 0]
Only native synthetic data (``tcdepth synth``) has the poses this needs.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from tcdepth.data import build_dataset
from tcdepth.data.synthetic import SyntheticDataset
from tcdepth.experiment import load_experiment
from tcdepth.geometry import disp_to_depth
from tcdepth.metrics import EigenOptions, evaluate_image
from tcdepth.runs import describe_device
from tcdepth.training.module import DepthModule

MODES = ("ground_truth", "depth_given_poses", "pose_given_depth", "joint")


def ground_truth_poses(dataset: SyntheticDataset, indices: list[int], scale: float) -> dict[int, torch.Tensor]:
    """``T_{0->f}`` ``[B,4,4]`` for the source frames of ``dataset``, translations divided by ``scale``."""
    poses = {}
    for offset in dataset.frame_ids:
        if offset == 0:
            continue
        mats = []
        for index in indices:
            entry = dataset.entries[index]
            T = dataset.source.gt_motion(entry, entry.at(entry.frame + offset))
            T[:3, 3] /= scale
            mats.append(T)
        poses[offset] = torch.tensor(np.stack(mats), dtype=torch.float32)
    return poses


def disparity_pyramid(depth: torch.Tensor, min_depth: float, max_depth: float, size: tuple[int, int],
                      scales) -> list[torch.Tensor]:
    """The sigmoid disparity ``[B,1,H/2^s,W/2^s]`` per scale that ``disp_to_depth`` maps to ``depth [B,1,h,w]``
    (any ground-truth size), for the network size ``size = (H, W)``."""
    min_disp, max_disp = 1 / max_depth, 1 / min_depth
    disp = ((1 / depth - min_disp) / (max_disp - min_disp)).clamp(0, 1)
    return [F.interpolate(disp, size=(size[0] >> s, size[1] >> s), mode="area") for s in scales]


def batch_abs_rel(depth_gt: torch.Tensor, scaled_disp: torch.Tensor) -> float:
    """Mean Eigen abs_rel (median scaling, no crop) of ``scaled_disp [B,1,H,W]`` against metres ``[B,1,H,W]``."""
    options = EigenOptions(crop="none")
    scores = [evaluate_image(g, d, options).metrics["abs_rel"]
              for g, d in zip(depth_gt[:, 0].numpy(), scaled_disp[:, 0].detach().numpy(), strict=True)]
    return float(np.mean(scores))


def translation_cosine(poses: dict, gt_poses: dict) -> dict[str, float]:
    """Mean cosine between predicted and ground-truth translations ``[B,4,4]`` per source frame, over the samples
    whose ground-truth translation is not zero (NaN when none moves)."""
    cosines = {}
    for f, gt in gt_poses.items():
        moving = gt[:, :3, 3].norm(dim=1) > 1e-9
        cos = F.cosine_similarity(poses[f][moving, :3, 3].detach(), gt[moving, :3, 3], dim=1)
        cosines[str(f)] = round(cos.mean().item(), 3) if moving.any() else float("nan")
    return cosines


def run_mode(mode: str, cfg, batch: dict, gt_disps: list[torch.Tensor], gt_poses: dict, args) -> None:
    from tcdepth.losses import monodepth2_loss

    torch.manual_seed(args.seed)
    module = DepthModule(cfg)
    trained = {"depth_given_poses": [module.depth_net], "pose_given_depth": [module.pose_net],
               "joint": [module.depth_net, module.pose_net], "ground_truth": []}[mode]
    params = [p for net in trained for p in net.parameters()]
    optimizer = torch.optim.Adam(params, lr=args.lr) if params else None
    steps = args.steps if params else 0
    for step in range(steps + 1):
        disps = module.depth_net(batch["color_aug_0"][:, 0])["disp"] if mode in ("depth_given_poses", "joint") \
            else gt_disps
        poses = gt_poses if mode in ("ground_truth", "depth_given_poses") else module.predict_poses(
            batch[f"color_aug_{args.pose_input_scale}"])
        loss = monodepth2_loss(batch, {"disp": disps}, poses, cfg.loss).total
        if step % args.log_every == 0 or step == steps:
            scaled = disp_to_depth(disps[0].float(), cfg.loss.min_depth, cfg.loss.max_depth)[0]
            print(json.dumps({
                "bench": "overfit_diagnosis", "mode": mode, "step": step, "loss": round(loss.item(), 5),
                "abs_rel": round(batch_abs_rel(batch["depth_gt"], scaled), 4),
                "translation": {str(f): round(p[:, :3, 3].norm(dim=1).mean().item(), 5) for f, p in poses.items()},
                "gt_translation": {str(f): round(p[:, :3, 3].norm(dim=1).mean().item(), 5)
                                   for f, p in gt_poses.items()},
                "translation_cosine": translation_cosine(poses, gt_poses),
                "pose_input_scale": args.pose_input_scale, "multiscale": cfg.loss.multiscale,
                "lr": args.lr, "batch": args.batch, "pose_encoder": cfg.model.pose_encoder,
                "pose_pretrained": cfg.model.pose_pretrained,
                "device": describe_device("cpu"), "torch": torch.__version__}), flush=True)
        if optimizer is not None and step < steps:
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config")
    parser.add_argument("overrides", nargs="*", help="section.key=value")
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--log-every", type=int, default=25)
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    parser.add_argument("--pose-input-scale", type=int, default=0, help="pyramid level the pose network sees")
    args = parser.parse_args()
    cfg = load_experiment(args.config, args.overrides)
    if args.pose_input_scale not in cfg.data.scales:
        parser.error(f"--pose-input-scale {args.pose_input_scale}: data.scales {list(cfg.data.scales)} has no "
                     "such pyramid level")
    if cfg.data.dataset != "synthetic" or cfg.model.architecture != "monodepth2":
        parser.error("needs data.dataset=synthetic (native layout, with poses.npy) and model.architecture=monodepth2 "
                     "(the single-frame objective; e.g. configs/synthetic_tiny_monodepth2.yaml)")
    dataset = build_dataset(replace(cfg.data, depth_gt=True), "train", augment=False)
    loader = DataLoader(dataset, batch_size=args.batch, shuffle=True,
                        generator=torch.Generator().manual_seed(args.seed))
    batch = next(iter(loader))
    gt = batch["depth_gt"]
    start_depth = 1 / (1 / cfg.loss.max_depth + 0.5 * (1 / cfg.loss.min_depth - 1 / cfg.loss.max_depth))
    scale = float(gt[gt > 0].median()) / start_depth
    depth = torch.where(gt > 0, gt, torch.full_like(gt, cfg.loss.max_depth * scale)) / scale
    gt_disps = disparity_pyramid(depth, cfg.loss.min_depth, cfg.loss.max_depth, (cfg.data.height, cfg.data.width),
                                 cfg.loss.scales)
    gt_poses = ground_truth_poses(dataset, batch["index"].tolist(), scale)
    for mode in args.modes:
        run_mode(mode, cfg, batch, gt_disps, gt_poses, args)


if __name__ == "__main__":
    main()
