"""``tcdepth evaluate`` end to end: load a model (or external predictions), predict every test frame with its own
triplet, and score the KITTI Eigen protocol, the TCM windows and the flicker measure; write JSON, CSVs and the
table row. Optional test-time refinement per sequence (:mod:`tcdepth.evaluation.refine`).
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from tcdepth.data.frames import FrameRef, FrameSource
from tcdepth.data.kitti_raw import KittiRawFrames
from tcdepth.data.synthetic import SyntheticFrames, SyntheticLayout
from tcdepth.evaluation.eigen import EigenResult, evaluate_eigen, load_gt_depths
from tcdepth.evaluation.flicker import flicker_error
from tcdepth.evaluation.predict import DepthPredictor, MotionPredictor, TestPrediction, predict_frames
from tcdepth.evaluation.refine import RefineConfig, Refiner, RefineReport
from tcdepth.evaluation.tcm import WINDOW_FRAME_IDS, TCMResult, TCMSnippet, evaluate_tcm
from tcdepth.io import atomic_write_text, load_numeric_npy, load_numeric_npz
from tcdepth.metrics import DEPTH_METRICS, TRACK_METRICS, EigenOptions, resize_bilinear
from tcdepth.runs import TrainedModel

log = logging.getLogger(__name__)


@dataclass
class EvaluateOptions:
    """What to evaluate and how (the options of ``tcdepth evaluate``)."""

    data: Literal["synthetic", "kitti"]
    data_path: str
    split_file: str | None = None
    gt_path: str | None = None
    eigen: EigenOptions = field(default_factory=EigenOptions)
    post_process: bool = False
    tcm_windows: list[int] = field(default_factory=list)
    tcm_gt_dir: str | None = None
    flicker: bool = False
    poses_dir: str | None = None
    refine: RefineConfig | None = None
    skip_bad: bool = False

    def __post_init__(self):
        if self.data not in ("synthetic", "kitti"):
            raise ValueError(f"data must be 'synthetic' or 'kitti', got {self.data!r}")
        if self.data == "kitti" and self.split_file is None:
            raise ValueError("--split-file is required for KITTI (e.g. splits/eigen/test_files.txt)")
        bad = [w for w in self.tcm_windows if w not in WINDOW_FRAME_IDS]
        if bad:
            raise ValueError(f"TCM windows must be among {sorted(WINDOW_FRAME_IDS)}, got {bad}")
        if self.data == "kitti" and self.tcm_windows and self.tcm_gt_dir is None:
            raise ValueError("KITTI TCM needs --tcm-gt DIR (snippets written by `tcdepth make-tcm-gt`)")

    def store(self) -> FrameSource:
        if self.data == "synthetic":
            return SyntheticFrames(self.data_path)
        return KittiRawFrames(self.data_path, poses_dir=self.poses_dir)

    def split_path(self) -> Path:
        return Path(self.split_file) if self.split_file else SyntheticLayout(self.data_path).split("test")


@dataclass
class EvaluationReport:
    """Everything ``tcdepth evaluate`` reports."""

    eigen: EigenResult
    tcm: dict[int, TCMResult]
    tcm_skipped: dict[int, list[tuple[str, str]]]
    flicker: dict[str, float | int]
    fallbacks: dict[str, int]
    fallback_items: list[tuple[str, str]]
    refine: list[RefineReport]
    source: str

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "eigen": self.eigen.to_dict(),
            "table_row": self.eigen.table_row(),
            "tcm": {str(w): {**r.to_dict(), "skipped_snippets": [{"name": n, "reason": why}
                                                                  for n, why in self.tcm_skipped.get(w, [])]}
                    for w, r in self.tcm.items()},
            "flicker": self.flicker,
            "boundary_fallbacks": {**self.fallbacks,
                                   "items": [{"name": n, "fallback": f} for n, f in self.fallback_items]},
            "refine": [{"sequence": r.sequence, "samples": r.samples, "steps": len(r.losses),
                        "loss_first": r.losses[0] if r.losses else None,
                        "loss_last": r.losses[-1] if r.losses else None} for r in self.refine],
        }

    def write(self, out_dir: str | Path) -> None:
        """``metrics.json``, ``per_image.csv``, ``tcm_<w>.csv`` and ``table.txt`` in ``out_dir``, atomically."""
        out_dir = Path(out_dir)
        atomic_write_text(out_dir / "metrics.json", json.dumps(self.to_dict(), indent=2) + "\n")
        self.eigen.write(csv_path=out_dir / "per_image.csv")
        for window, result in self.tcm.items():
            result.write(csv_path=out_dir / f"tcm_{window}.csv")
        atomic_write_text(out_dir / "table.txt", self.table() + "\n")

    def table(self) -> str:
        header = "  ".join(f"{m:>8}" for m in DEPTH_METRICS)
        return f" {header}\n{self.eigen.table_row()}"

    def summary(self, label: str = "") -> str:
        """What ``tcdepth evaluate`` prints: images evaluated, median-scaling ratios, the Eigen table, boundary
        fallbacks, each TCM window and the flicker measure."""
        eigen = self.eigen
        lines = [f"{label}{len(eigen.images)} images" + (f", {len(eigen.skipped)} skipped" if eigen.skipped else "")]
        if eigen.options.median_scaling:
            lines.append(f" Scaling ratios | med: {eigen.ratio_median:0.3f} | std: {eigen.ratio_std:0.3f}")
        lines.append(self.table())
        if self.fallbacks["shifted"] or self.fallbacks["duplicated"]:
            lines.append(f" sequence boundaries: {self.fallbacks['shifted']} frames predicted from a shifted triplet, "
                         f"{self.fallbacks['duplicated']} with duplicated frames")
        for window, result in self.tcm.items():
            values = "  ".join(f"{m} {result.mean[m]:.4f}" for m in TRACK_METRICS)
            lines.append(f" TCM-{window}: {values}  ({len(result.pairs)} pairs, {len(self.tcm_skipped[window])} "
                         "snippets skipped)")
        if self.flicker:
            lines.append(f" flicker: predicted motion {self.flicker['predicted_motion']:.4f}, ground-truth motion "
                         f"{self.flicker['gt_motion']:.4f} ({self.flicker['pairs']} pairs)")
        return "\n".join(lines)


def load_external_disparities(path: str | Path, count: int) -> list[np.ndarray]:
    """Scaled disparities ``[N,h,w]`` from a ``.npy`` or a ``.npz`` (key ``data`` or ``disp``), in split order."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"prediction file {path} does not exist")
    if path.suffix == ".npz":
        arrays = load_numeric_npz(path)
        keys = [k for k in ("data", "disp") if k in arrays]
        if not keys:
            raise ValueError(f"prediction file {path}: expected a key 'data' or 'disp', has {sorted(arrays)}")
        disps = list(arrays[keys[0]])
    else:
        disps = list(load_numeric_npy(path))
    if len(disps) != count:
        raise ValueError(f"prediction file {path} holds {len(disps)} disparity maps for the {count} lines of the "
                         "split file: both must come from the same split")
    return [np.asarray(d, dtype=np.float32).squeeze() for d in disps]


def _tcm_snippets(options: EvaluateOptions, items: list[FrameRef], window: int
                  ) -> tuple[list[TCMSnippet], list[tuple[str, str]]]:
    """Ground-truth snippets of a window and the centres without one (sequence boundary, missing file)."""
    from tcdepth.evaluation.tcm_gt import load_snippet, synthetic_tcm_snippets

    snippets, skipped = [], []
    if options.data == "synthetic":
        for item in items:
            try:
                snippets += synthetic_tcm_snippets(Path(options.data_path) / item.sequence, [item.frame], window)
            except (FileNotFoundError, ValueError) as err:
                skipped.append((item.name, str(err)))
        return snippets, skipped
    folder = Path(options.tcm_gt_dir)
    if not folder.is_dir():
        raise FileNotFoundError(f"TCM ground-truth folder {folder} does not exist (run `tcdepth make-tcm-gt`)")
    for path in sorted(folder.glob("*.npz")):
        snippet = load_snippet(path)
        try:
            snippet.check(window)
            snippets.append(snippet)
        except ValueError as err:
            skipped.append((snippet.name, f"{path}: {err} (generate it with --window {window} or more)"))
    if not snippets:
        raise ValueError(f"no TCM snippet for a {window}-frame window in {folder}")
    return snippets, skipped


def _snippet_frame(snippet: TCMSnippet) -> FrameRef:
    """The centre frame of a snippet named ``<sequence> <frame>`` (KITTI snippets are of camera 2)."""
    sequence, frame = snippet.name.rsplit(" ", 1)
    return FrameRef(sequence, int(frame))


def _flicker(store: FrameSource, pairs, predictions, gts, motion: MotionPredictor | None, height: int,
             width: int) -> dict[str, float | int]:
    """Mean flicker of ``(t, t+1)`` pairs with predicted motion (network units) and with GT motion (median-scaled
    to the target's ground truth)."""
    predicted, with_gt = [], []
    for item, nxt in pairs:
        disp_t, disp_s = predictions[item].final_disp(), predictions[nxt].final_disp()
        if motion is not None:
            K = store.intrinsics(item).K_for(height, width).double().numpy()
            predicted.append(flicker_error(1.0 / disp_t, 1.0 / disp_s, K, motion.motion(store, item, nxt)))
        T = store.gt_motion(item, nxt)
        gt = gts.get(item)
        if T is not None and gt is not None and (gt > 0).any():
            h, w = gt.shape
            depth_t = 1.0 / resize_bilinear(disp_t, h, w).astype(np.float64)
            depth_s = 1.0 / resize_bilinear(disp_s, h, w).astype(np.float64)
            ratio = np.median(gt[gt > 0]) / np.median(depth_t[gt > 0])
            K = store.intrinsics(item).K_for(h, w).double().numpy()
            with_gt.append(flicker_error(depth_t * ratio, depth_s * ratio, K, T))

    def mean(values):
        finite = [v for v in values if np.isfinite(v)]
        return float(np.mean(finite)) if finite else float("nan")

    return {"predicted_motion": mean(predicted), "gt_motion": mean(with_gt), "pairs": len(pairs),
            "pairs_predicted_motion": len(predicted), "pairs_gt_motion": len(with_gt)}


def evaluate(options: EvaluateOptions, model: TrainedModel | None = None, pred_path: str | Path | None = None,
             device: str = "cpu") -> EvaluationReport:
    """Run the evaluation of ``options`` on a model or on external predictions (``pred_path``): read the split and
    the ground truth, gather the TCM snippets and flicker pairs, predict every frame they need (refining the model
    per sequence with ``options.refine``), then score the Eigen protocol, the TCM windows and the flicker."""
    if (model is None) == (pred_path is None):
        raise ValueError("evaluate needs exactly one of a model and a prediction file")
    if pred_path is not None and (options.tcm_windows or options.flicker or options.refine):
        raise ValueError("TCM, flicker and test-time refinement need a model, not a prediction file")
    store = options.store()
    items = store.read_split(options.split_path())
    if not items:
        raise ValueError(f"split file {options.split_path()} lists no frame")
    skips = _Skips(options.skip_bad)
    gts = _ground_truth(options, store, items, skips)
    snippets = {window: _tcm_snippets(options, items, window) for window in options.tcm_windows}
    flicker_pairs = _flicker_pairs(store, items) if options.flicker else []
    refine_reports: list[RefineReport] = []
    if pred_path is not None:
        disps = load_external_disparities(pred_path, len(items))
        predictions = {item: TestPrediction(d, None, "none") for item, d in zip(items, disps, strict=True)}
    else:
        needed = _frames_to_predict(items, snippets, flicker_pairs)
        predictions, refine_reports = _predict(options, model, store, items, needed, skips, device)
    kept = [item for item in items if item in predictions]
    eigen = evaluate_eigen([gts[i] for i in kept], [predictions[i].disp for i in kept], options.eigen,
                           flipped_disps=[predictions[i].flipped_disp for i in kept] if options.post_process
                           else None, names=[i.name for i in kept], skip_bad=options.skip_bad)
    eigen.skipped = list(skips.reasons.items()) + eigen.skipped
    tcm = {window: _score_tcm(options, window, usable, skipped, predictions)
           for window, (usable, skipped) in snippets.items()}
    flicker = {}
    if options.flicker:
        pairs = [(a, b) for a, b in flicker_pairs if a in predictions and b in predictions]
        motion = MotionPredictor(model.pose_net, model.height, model.width, device) if model.pose_net else None
        flicker = _flicker(store, pairs, predictions, gts, motion, model.height, model.width)
    fallback_items = [(i.name, predictions[i].fallback) for i in kept if predictions[i].fallback != "none"]
    counts = Counter(f for _, f in fallback_items)
    return EvaluationReport(eigen, tcm,
                            {w: skipped for w, (_, skipped) in snippets.items()}, flicker,
                            {"shifted": counts["shifted"], "duplicated": counts["duplicated"]}, fallback_items,
                            refine_reports, str(Path(pred_path or model.source).resolve()))


class _Skips:
    """Items that could not be evaluated: with ``skip_bad`` the first reason of each is kept, else it raises."""

    def __init__(self, skip_bad: bool):
        self.skip_bad = skip_bad
        self.reasons: dict[str, str] = {}

    def __call__(self, item: FrameRef, err: Exception) -> None:
        if not self.skip_bad:
            raise err
        self.reasons.setdefault(item.name, str(err))


def _ground_truth(options: EvaluateOptions, store: FrameSource, items: list[FrameRef],
                  skip: _Skips) -> dict[FrameRef, np.ndarray | None]:
    """Ground-truth depth of every item: from ``options.gt_path`` (in split order) or from the frame source."""
    if options.gt_path is not None:
        loaded = load_gt_depths(options.gt_path)
        if len(loaded) != len(items):
            raise ValueError(f"ground-truth file {options.gt_path} holds {len(loaded)} depth maps for the "
                             f"{len(items)} lines of {options.split_path()}: both must come from the same split")
        return dict(zip(items, loaded, strict=True))
    gts = {}
    for item in items:
        try:
            gts[item] = store.gt_depth(item)
        except (FileNotFoundError, ValueError) as err:
            skip(item, err)
            gts[item] = None
    return gts


def _flicker_pairs(store: FrameSource, items: list[FrameRef]) -> list[tuple[FrameRef, FrameRef]]:
    """``(t, t+1)`` for every item whose next frame exists."""
    return [(item, item.at(item.frame + 1)) for item in items
            if store.exists(item.at(item.frame + 1)) and store.exists(item)]


def _frames_to_predict(items: list[FrameRef], snippets: dict[int, tuple[list[TCMSnippet], list]],
                       flicker_pairs: list[tuple[FrameRef, FrameRef]]) -> dict[str, list[FrameRef]]:
    """Per sequence, the frames whose depth is needed: the items, every frame of a TCM window, the flicker pairs."""
    needed: dict[str, list[FrameRef]] = {}
    for item in items:
        needed.setdefault(item.sequence, []).append(item)
    for window, (usable, _) in snippets.items():
        for snippet in usable:
            centre = _snippet_frame(snippet)
            needed.setdefault(centre.sequence, []).extend(centre.at(centre.frame + k) for k in WINDOW_FRAME_IDS[window])
    for item, nxt in flicker_pairs:
        needed[item.sequence].append(nxt)
    return needed


def _predict(options: EvaluateOptions, model: TrainedModel, store: FrameSource, items: list[FrameRef],
             needed: dict[str, list[FrameRef]], skip: _Skips, device: str
             ) -> tuple[dict[FrameRef, TestPrediction], list[RefineReport]]:
    """Predict the needed frames sequence by sequence, each after test-time refinement on the sequence's items
    when ``options.refine`` is set (the weights are restored after every sequence)."""
    predictor = DepthPredictor(model.depth_net, model.model_config.min_depth, model.model_config.max_depth,
                               model.height, model.width, options.post_process, device)
    refiner = None
    if options.refine is not None:
        if model.pose_net is None:
            raise ValueError(f"test-time refinement needs the pose network: {model.source} has none (give a "
                             "run directory that holds it)")
        refiner = Refiner(model.experiment, predictor.model, model.pose_net, options.refine)
    predictions, reports = {}, []
    for sequence, frames in needed.items():
        if refiner is None:
            predictions.update(predict_frames(predictor, store, frames, skip))
            continue
        centres = [item for item in items if item.sequence == sequence] or frames
        with refiner.refined(store, centres, model.height, model.width) as report:
            predictions.update(predict_frames(predictor, store, frames, skip))
        reports.append(report)
        log.info("refined %s on %d samples: loss %s", sequence, report.samples,
                 f"{report.losses[0]:.4f} -> {report.losses[-1]:.4f}" if report.losses else "n/a")
    return predictions, reports


def _score_tcm(options: EvaluateOptions, window: int, snippets: list[TCMSnippet], skipped: list[tuple[str, str]],
               predictions: dict[FrameRef, TestPrediction]) -> TCMResult:
    """The TCM of one window over the snippets whose every frame was predicted (the others join ``skipped``)."""
    usable, preds = [], []
    for snippet in snippets:
        centre = _snippet_frame(snippet)
        frames = [centre.at(centre.frame + k) for k in WINDOW_FRAME_IDS[window]]
        if all(f in predictions for f in frames):
            usable.append(snippet)
            preds.append({k: 1.0 / predictions[f].final_disp()
                          for k, f in zip(WINDOW_FRAME_IDS[window], frames, strict=True)})
        else:
            skipped.append((snippet.name, "a frame of the window could not be predicted"))
    return evaluate_tcm(usable, preds, window, max_depth=min(50.0, options.eigen.max_depth),
                        median_scaling=options.eigen.median_scaling)
