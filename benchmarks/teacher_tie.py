"""How closely a TC-Depth run follows its frozen teacher, and what its spatial attention is guided by, on the
held-out frames of a synthetic dataset (every ``--every``-th frame of the test split):

- the median raw depth ratio student / teacher and the fraction of pixels within the motion mask's ratio (1.6),
  for the trained network and for a freshly initialised one (seed 0);
- abs_rel (Eigen protocol) of the reference decoder's coarse depth, which places the spatial attention's 3D points,
  beside the final depth's.

    python benchmarks/teacher_tie.py DATA TEACHER_RUN TCDEPTH_RUN...
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from tcdepth.data.synthetic import SyntheticFrames, SyntheticLayout
from tcdepth.evaluation.predict import DepthPredictor, load_frame
from tcdepth.geometry import disp_to_depth
from tcdepth.metrics import EigenOptions, evaluate_image
from tcdepth.models import build_model
from tcdepth.runs import load_trained_model


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data")
    parser.add_argument("teacher")
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--every", type=int, default=4)
    parser.add_argument("--motion-ratio", type=float, default=1.6)
    args = parser.parse_args(argv)
    store = SyntheticFrames(args.data)
    items = store.read_split(SyntheticLayout(args.data).split("test"))[::args.every]
    teacher = load_trained_model(args.teacher)
    predictor = DepthPredictor(teacher.depth_net, teacher.model_config.min_depth, teacher.model_config.max_depth,
                               teacher.height, teacher.width)
    teacher_depth = [1.0 / predictor.predict(store, item).disp for item in items]
    options = EigenOptions()
    for run in args.runs:
        trained = load_trained_model(run)
        torch.manual_seed(0)
        for label, net in (("initialised", build_model(trained.model_config)), ("trained", trained.depth_net)):
            net.eval()
            ratios, within, coarse_errors, final_errors = [], [], [], []
            for item, reference in zip(items, teacher_depth, strict=True):
                frames = torch.stack([load_frame(store, item.at(f), trained.height, trained.width)
                                      for f in (item.frame, item.frame - 1, item.frame + 1)])
                K = store.intrinsics(item).K_for(trained.height, trained.width)
                with torch.no_grad():
                    out = net(frames[None], K[None])
                cfg = trained.model_config
                final = disp_to_depth(out["disp"][0][0, 0, 0], cfg.min_depth, cfg.max_depth)[0].numpy()
                ratio = (1.0 / final) / reference
                ratios.append(np.median(ratio))
                within.append(np.mean(np.maximum(ratio, 1.0 / ratio) < args.motion_ratio))
                gt = store.gt_depth(item)
                coarse = out["coarse_disp"][0, 0, 0].numpy()
                coarse_errors.append(evaluate_image(gt, coarse, options).metrics["abs_rel"])
                final_errors.append(evaluate_image(gt, final, options).metrics["abs_rel"])
            print(f"{run} ({label}): depth ratio to the teacher {np.median(ratios):.3f}, within "
                  f"{args.motion_ratio}x: {np.mean(within):.3f}; abs_rel coarse {np.mean(coarse_errors):.3f}, "
                  f"final {np.mean(final_errors):.3f} ({len(items)} frames)")


if __name__ == "__main__":
    main()
