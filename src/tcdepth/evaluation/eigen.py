"""KITTI Eigen protocol over a test set: predicted scaled disparities against ground-truth depth maps (spec 6.1).

Each image is scored by :func:`tcdepth.metrics.evaluate_image`; the reported value of each metric is the mean over
images. Also Monodepth2's flip post-processing and the ground-truth file ``gt_depths.npz``.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from tcdepth.io import atomic_write_text, load_numeric_npz
from tcdepth.metrics import DEPTH_METRICS, EigenOptions, ImageResult, evaluate_image


def post_process_disparity(disp: np.ndarray, flipped_disp: np.ndarray) -> np.ndarray:
    """Blend a disparity ``[H,W]`` with the disparity predicted for the flipped image (Monodepth2).

    ``flipped_disp`` is the network output on the horizontally flipped input, as it comes (still flipped); it is
    flipped back here. The leftmost 5% of columns come from the flipped-back prediction, the rightmost 5% from
    ``disp``, ramping linearly over the next 5% into their mean in the middle.
    """
    if disp.shape != flipped_disp.shape or disp.ndim != 2:
        raise ValueError(f"post_process_disparity expects two [H,W] maps of one size, got {disp.shape} and "
                         f"{flipped_disp.shape}")
    height, width = disp.shape
    unflipped = flipped_disp[:, ::-1]
    ramp = np.broadcast_to(np.linspace(0.0, 1.0, width)[None, :], (height, width))
    left_weight = 1.0 - np.clip(20.0 * (ramp - 0.05), 0.0, 1.0)  # weight of the flipped-back map on the left
    right_weight = left_weight[:, ::-1]
    mean = 0.5 * (disp + unflipped)
    return right_weight * disp + left_weight * unflipped + (1.0 - left_weight - right_weight) * mean


@dataclass
class EigenResult:
    """Mean metrics over the evaluated images, per-image results and the items skipped with their reason."""

    mean: dict[str, float]
    images: list[ImageResult]
    ratio_median: float
    ratio_std: float
    options: EigenOptions
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def table_row(self) -> str:
        """The LaTeX-friendly row of Monodepth2: ``&   0.115  &   0.903  & ...  \\\\`` in DEPTH_METRICS order."""
        return "&" + "  &".join(f"{self.mean[name]:8.3f}" for name in DEPTH_METRICS) + "  \\\\"

    def to_dict(self) -> dict:
        return {
            "metrics": self.mean,
            "num_images": len(self.images),
            "median_scaling": {"ratio_median": self.ratio_median, "ratio_std": self.ratio_std},
            "options": asdict(self.options),
            "skipped": [{"name": name, "reason": reason} for name, reason in self.skipped],
        }

    def per_image_csv(self) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["name", *DEPTH_METRICS, "ratio", "pixels"])
        for image in self.images:
            writer.writerow([image.name, *(f"{image.metrics[m]:.6f}" for m in DEPTH_METRICS),
                             f"{image.ratio:.6f}", image.pixels])
        return buffer.getvalue()

    def write(self, json_path: str | Path | None = None, csv_path: str | Path | None = None) -> None:
        """Write the summary JSON and/or the per-image CSV atomically."""
        if json_path is not None:
            atomic_write_text(json_path, json.dumps(self.to_dict(), indent=2) + "\n")
        if csv_path is not None:
            atomic_write_text(csv_path, self.per_image_csv())


def load_gt_depths(path: str | Path) -> list[np.ndarray]:
    """Ground-truth depth maps from a ``gt_depths.npz`` (key ``data``: object array of ``[H,W]`` maps)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"ground-truth file {path} does not exist (create it with `tcdepth export-gt`)")
    arrays = load_numeric_npz(path)
    if "data" not in arrays:
        raise ValueError(f"ground-truth file {path} has no key 'data' (keys: {sorted(arrays)})")
    return list(arrays["data"])


def evaluate_eigen(
    gt_depths,
    pred_disps,
    options: EigenOptions | None = None,
    flipped_disps=None,
    names: list[str] | None = None,
    skip_bad: bool = False,
) -> EigenResult:
    """Evaluate predicted scaled disparities ``[N,h,w]`` (or a list) against ``N`` ground-truth depth maps.

    Args:
        gt_depths: sequence of ``[H,W]`` depth maps (0 or ``None`` where ground truth is missing).
        pred_disps: sequence of ``[h,w]`` scaled disparities (e.g. ``disp_to_depth(sigmoid)[0]``).
        flipped_disps: optional predictions on the flipped images for post-processing
            (:func:`post_process_disparity`).
        names: one name per item for messages and the CSV (default the index).
        skip_bad: skip items without usable ground truth or with a bad prediction and list them in
            ``EigenResult.skipped`` instead of raising.
    """
    options = options or EigenOptions()
    count = len(pred_disps)
    if len(gt_depths) != count:
        raise ValueError(f"{len(gt_depths)} ground-truth depth maps for {count} predictions: the prediction file "
                         "and the ground truth must come from the same split")
    if flipped_disps is not None and len(flipped_disps) != count:
        raise ValueError(f"{len(flipped_disps)} flipped predictions for {count} predictions")
    names = names if names is not None else [str(i) for i in range(count)]
    if len(names) != count:
        raise ValueError(f"{len(names)} names for {count} predictions")
    images, skipped = [], []
    for index in range(count):
        name = names[index]
        try:
            if gt_depths[index] is None:
                raise ValueError(f"{name}: ground truth is missing")
            disp = np.asarray(pred_disps[index], dtype=np.float32).squeeze()
            if flipped_disps is not None:
                disp = post_process_disparity(disp, np.asarray(flipped_disps[index], dtype=np.float32).squeeze())
            images.append(evaluate_image(gt_depths[index], disp, options, name))
        except ValueError as err:
            if not skip_bad:
                raise
            skipped.append((name, str(err)))
    if not images:
        raise ValueError(f"no image could be evaluated ({len(skipped)} skipped)")
    mean = {m: float(np.mean([image.metrics[m] for image in images])) for m in DEPTH_METRICS}
    ratios = np.array([image.ratio for image in images])
    ratio_median = ratio_std = math.nan
    if options.median_scaling:
        ratio_median = float(np.median(ratios))
        ratio_std = float(np.std(ratios / ratio_median))
    return EigenResult(mean=mean, images=images, ratio_median=ratio_median, ratio_std=ratio_std,
                       options=options, skipped=skipped)
