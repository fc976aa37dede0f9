"""The main job end to end (``tcdepth demo``): synthetic data, the Monodepth2 baseline, TC-Depth with the baseline
as teacher, evaluation of both (Eigen + TCM), prediction of the held-out clip and the HTML report.

Every step prints the shell command that reruns it and is skipped when its outputs exist and are complete
(training resumes from its checkpoint when it was interrupted); ``fresh=True`` starts over.
"""

from __future__ import annotations

import json
import shlex
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tcdepth.data.synthetic import SyntheticLayout
from tcdepth.geometry import check_network_size
from tcdepth.inference.writers import ClipWriter
from tcdepth.io import atomic_write_text
from tcdepth.reporting import DemoReport, ReportStep, load_result, results_markdown, write_report
from tcdepth.reporting.results import format_duration
from tcdepth.runs import Run

BASELINE_CONFIG = "synthetic_tiny_monodepth2.yaml"
TCDEPTH_CONFIG = "synthetic_tiny.yaml"
TCM_WINDOWS = (3, 5, 7)
FLOW_RANGE = 3  # correspondences to t-3..t+3: what TCM-7 needs
STEP_COUNT = 7  # six steps with outputs to reuse, then the report


@dataclass
class DemoSettings:
    """The demo's budget. Defaults: 5 sequences (3 train, 1 validation, 1 held-out test) of 60 frames rendered at
    96x320 (the networks run at the configs' 64x160; 43 steps of batch 4 per epoch), 10 epochs of the baseline and 10
    of TC-Depth, which starts from the trained baseline (the parts its config's ``train.init_parts`` names; few long
    epochs: every epoch costs a checkpoint, every second one a validation)."""

    out_dir: Path = Path("demo_out")
    config_dir: Path = Path("configs")
    sequences: int = 5
    frames: int = 60
    height: int = 96
    width: int = 320
    baseline_epochs: int = 10
    tcdepth_epochs: int = 10
    seed: int = 0

    def __post_init__(self):
        if self.sequences < 3:
            raise ValueError(f"sequences: the demo needs at least 3 (train, validation, test), got {self.sequences}")
        if self.frames < 8:
            raise ValueError(f"frames: need at least 8 per sequence for TCM-7, got {self.frames}")
        check_network_size(self.height, self.width)
        for name in ("baseline_epochs", "tcdepth_epochs"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")

    @property
    def data_dir(self) -> Path:
        return self.out_dir / "data"

    @property
    def runs_dir(self) -> Path:
        return self.out_dir / "runs"

    @property
    def predict_dir(self) -> Path:
        return self.out_dir / "predict"

    @property
    def assets_dir(self) -> Path:
        return self.out_dir / "assets"

    @property
    def report_path(self) -> Path:
        return self.out_dir / "report.html"

    def sequence_names(self) -> list[str]:
        from tcdepth.synth.writers import sequence_names

        return sequence_names(self.sequences)

    @property
    def test_sequence(self) -> str:
        return self.sequence_names()[-1]

    @staticmethod
    def student_overrides(baseline: Path) -> list[str]:
        """TC-Depth's teacher and warm start: the baseline run at ``baseline``."""
        return [f"train.teacher.path={baseline}", f"train.init_from={baseline}"]

    def train_overrides(self, epochs: int) -> list[str]:
        """The demo's data, output folder and epochs; the network size is the configs' own (the frames are
        rendered at ``height x width`` and resized to it)."""
        return [f"data.path={self.data_dir}", f"train.out_dir={self.runs_dir}", f"train.epochs={epochs}",
                f"train.milestones=[{max(1, round(0.75 * epochs))}]"]


def command_line(words: list[str | Path]) -> str:
    return shlex.join(str(w) for w in words)


def newer(outputs: list[Path], inputs: list[Path]) -> bool:
    """Whether every output exists and none is older than an existing input (make's rule)."""
    if not all(p.is_file() for p in outputs):
        return False
    latest_input = max((p.stat().st_mtime for p in inputs if p.is_file()), default=0.0)
    return min(p.stat().st_mtime for p in outputs) >= latest_input


class Demo:
    """Runs the steps of the demo in order; see the module docstring."""

    def __init__(self, settings: DemoSettings, print_fn: Callable[[str], None] = print):
        self.s = settings
        self.print = print_fn
        self.steps: list[ReportStep] = []
        self.baseline_run = Run(self.s.runs_dir / "synthetic_tiny_monodepth2")
        self.tcdepth_run = Run(self.s.runs_dir / "synthetic_tiny_tcdepth")
        self.layout = SyntheticLayout(self.s.data_dir)

    # ------------------------------------------------------------------------------------------------ plumbing
    def step(self, title: str, command: str, complete: Callable[[], bool], action: Callable[[], None]) -> None:
        self.print(f"\n=== [{len(self.steps) + 1}/{STEP_COUNT}] {title}")
        self.print(f"$ {command}")
        if complete():
            self.print("reusing the existing outputs (complete); pass --fresh to redo")
            self.steps.append(ReportStep(title, command, None))
            return
        start = time.perf_counter()
        action()
        if not complete():
            raise RuntimeError(f"step '{title}' finished but its outputs are incomplete")
        seconds = time.perf_counter() - start
        self.print(f"--- {title}: done in {format_duration(seconds)}")
        self.steps.append(ReportStep(title, command, seconds))

    def clear(self) -> None:
        """Remove what earlier demos wrote (only the demo's own folders and files)."""
        for folder in (self.s.data_dir, self.s.runs_dir, self.s.predict_dir, self.s.assets_dir):
            if folder.exists():
                shutil.rmtree(folder)
        self.s.report_path.unlink(missing_ok=True)

    # ------------------------------------------------------------------------------------------------ data
    @property
    def data_stamp(self) -> Path:
        """Written last by the data step: the settings the data was rendered with."""
        return self.s.data_dir / "demo_data.json"

    def data_settings(self) -> dict:
        return {"sequences": self.s.sequences, "frames": self.s.frames, "height": self.s.height,
                "width": self.s.width, "seed": self.s.seed, "flow_range": FLOW_RANGE}

    def data_complete(self) -> bool:
        layout = self.layout
        if not self.data_stamp.is_file() or json.loads(self.data_stamp.read_text()) != self.data_settings():
            return False
        splits = all(layout.split(name).is_file() for name in ("train", "val", "test"))
        frames = all(layout.rgb(name, f).is_file() and layout.depth(name, f).is_file()
                     for name in self.s.sequence_names() for f in range(self.s.frames))
        cameras = all(layout.intrinsics(name).is_file() for name in self.s.sequence_names())
        correspondences = all(layout.correspondences(self.s.test_sequence, f).is_file()
                              for f in range(self.s.frames))
        return splits and frames and cameras and correspondences

    def unused_correspondence_dirs(self) -> list[Path]:
        """The correspondence folders of the training and validation sequences: only TCM on the test sequence reads
        them."""
        return [self.layout.correspondences(name, 0).parent for name in self.s.sequence_names()[:-1]]

    def make_data(self) -> None:
        from tqdm import tqdm

        from tcdepth.synth import SynthConfig, write_dataset

        if self.s.data_dir.exists():
            shutil.rmtree(self.s.data_dir)  # incomplete or rendered with other settings
        cfg = SynthConfig(width=self.s.width, height=self.s.height, frames=self.s.frames, flow_range=FLOW_RANGE)
        with tqdm(total=self.s.sequences * self.s.frames, unit="frame", desc="synth") as bar:
            write_dataset(cfg, self.s.data_dir, self.s.sequences, self.s.seed, "native", False, bar.update)
        for folder in self.unused_correspondence_dirs():
            shutil.rmtree(folder, ignore_errors=True)
        atomic_write_text(self.data_stamp, json.dumps(self.data_settings()) + "\n")

    def data_command(self) -> str:
        synth = command_line(["tcdepth", "synth", self.s.data_dir, "--sequences", self.s.sequences, "--frames",
                              self.s.frames, "--width", self.s.width, "--height", self.s.height, "--seed", self.s.seed,
                              "--flow-range", FLOW_RANGE])
        return f"{synth} && {command_line(['rm', '-r', *self.unused_correspondence_dirs()])}"

    # ------------------------------------------------------------------------------------------------ training
    def run_complete(self, run: Run, config: Path, overrides: list[str]) -> bool:
        """Weights, logs and run_info.json exist, are newer than the data and the teacher, and the run was trained
        with this config."""
        outputs = [run.depth_weights, run.pose_weights, run.info_path, run.metrics_csv]
        inputs = [self.data_stamp] + ([self.baseline_run.depth_weights] if run.path == self.tcdepth_run.path else [])
        return newer(outputs, inputs) and self.same_config(run, config, overrides)

    @staticmethod
    def same_config(run: Run, config: Path, overrides: list[str]) -> bool:
        from tcdepth.config import to_dict
        from tcdepth.experiment import load_experiment

        return (run.config_path.is_file()
                and to_dict(load_experiment(run.config_path)) == to_dict(load_experiment(config, overrides)))

    def train_step(self, title: str, config_name: str, epochs: int, extra: list[str]) -> None:
        config = self.s.config_dir / config_name
        overrides = self.s.train_overrides(epochs) + extra
        run = self.baseline_run if config_name == BASELINE_CONFIG else self.tcdepth_run

        def action():
            from tcdepth.experiment import load_experiment
            from tcdepth.training.engine import train

            if not config.is_file():
                raise FileNotFoundError(f"experiment config {config} does not exist (run the demo from the "
                                        "repository root or pass --config-dir)")
            cfg = load_experiment(config, overrides)
            if Run.of(cfg).path != run.path:
                raise ValueError(f"{config}: run name {cfg.name!r} gives {Run.of(cfg).path}, the demo expects "
                                 f"{run.path}")
            if run.path.exists() and not self.same_config(run, config, overrides):
                self.print(f"{run.path} was trained with other settings or data: starting it over")
                shutil.rmtree(run.path)
            train(cfg)
            if not run.has_weights():
                raise RuntimeError(f"training of {run.path} was interrupted; run the demo again to resume")
            # The exported weights are the run's result; its checkpoints only served resuming.
            shutil.rmtree(run.checkpoint_dir, ignore_errors=True)

        self.step(title, command_line(["tcdepth", "train", config, *overrides]),
                  lambda: self.run_complete(run, config, overrides), action)

    # ------------------------------------------------------------------------------------------------ evaluation
    def evaluation_complete(self, run: Run) -> bool:
        out = run.evaluation_dir
        names = ["metrics.json", "per_image.csv", "table.txt", *(f"tcm_{w}.csv" for w in TCM_WINDOWS)]
        return newer([out / name for name in names], [self.data_stamp, run.depth_weights])

    def evaluate_step(self, title: str, run: Run) -> None:
        out = run.evaluation_dir

        def action():
            from tcdepth.evaluation.runner import EvaluateOptions, evaluate
            from tcdepth.runs import load_trained_model

            options = EvaluateOptions(data="synthetic", data_path=str(self.s.data_dir), tcm_windows=list(TCM_WINDOWS),
                                      flicker=True)
            report = evaluate(options, load_trained_model(run.path))
            self.print(report.summary())
            report.write(out)

        command = command_line(["tcdepth", "evaluate", run.path, "--data", "synthetic", "--data-path",
                                self.s.data_dir, "--tcm", *TCM_WINDOWS, "--out", out])
        self.step(title, command, lambda: self.evaluation_complete(run), action)

    # ------------------------------------------------------------------------------------------------ prediction
    @property
    def test_frames(self) -> Path:
        """The folder of the held-out sequence's frames."""
        return self.layout.rgb(self.s.test_sequence, 0).parent

    @property
    def test_intrinsics(self) -> Path:
        return self.layout.intrinsics(self.s.test_sequence)

    def predict_command(self) -> str:
        return command_line(["tcdepth", "predict", self.tcdepth_run.path, self.test_frames, "--intrinsics",
                             self.test_intrinsics, "--out", self.s.predict_dir, "--color", "--video", "--fused-ply"])

    def prediction_complete(self) -> bool:
        out = self.s.predict_dir
        return (newer([out / ClipWriter.VIDEO, out / ClipWriter.FUSED_CLOUD],
                      [self.data_stamp, self.tcdepth_run.depth_weights])
                and all(ClipWriter.frame_path(out, "color", f).is_file() for f in range(self.s.frames)))

    def predict(self) -> None:
        from tcdepth.data.intrinsics import load_intrinsics
        from tcdepth.inference import Predictor
        from tcdepth.inference.clip import predict_clip
        from tcdepth.inference.sources import iter_source_frames, source_fps
        from tcdepth.inference.writers import OutputSelection

        if self.s.predict_dir.exists():
            shutil.rmtree(self.s.predict_dir)  # stale outputs of another model or clip
        selection = OutputSelection(color=True, video=True, fused_ply=True, fps=source_fps(self.test_frames))
        predictor = Predictor.from_checkpoint(self.tcdepth_run.path, intrinsics=load_intrinsics(self.test_intrinsics))
        with ClipWriter(self.s.predict_dir, selection, metric=False) as writer:
            written = predict_clip(predictor, iter_source_frames(self.test_frames), writer)
        self.print(f"wrote {written} frame(s) to {self.s.predict_dir}")

    # ------------------------------------------------------------------------------------------------ figures
    def contact_sheet(self, path: Path, count: int = 4) -> None:
        from PIL import Image

        from tcdepth.visualize import contact_sheet, save_png

        picks = np.linspace(0, self.s.frames - 1, count).round().astype(int)
        rows = [[np.asarray(Image.open(self.layout.rgb(self.s.test_sequence, i)).convert("RGB")),
                 np.asarray(Image.open(ClipWriter.frame_path(self.s.predict_dir, "color", i)).convert("RGB"))]
                for i in picks]
        save_png(path, contact_sheet(rows, ["frame", "TC-Depth inverse depth"]))

    def attention_figure(self, path: Path) -> None:
        import torch
        from PIL import Image

        from tcdepth.data.intrinsics import load_intrinsics
        from tcdepth.reporting.figures import attention_queries, plot_attention

        sequence, centre = self.s.test_sequence, self.s.frames // 2
        height, width = self.tcdepth_run.network_size()
        size = (width, height)
        frames = np.stack([np.asarray(Image.open(self.layout.rgb(sequence, centre + k)).convert("RGB").resize(
            size, Image.LANCZOS)) for k in (0, -1, 1)])
        moving_path = self.layout.moving(sequence, centre)
        moving = np.asarray(Image.open(moving_path)) > 0 if moving_path.is_file() else None
        model, _ = self.tcdepth_run.load_depth_net()
        K = load_intrinsics(self.test_intrinsics).K_for(height, width).float()
        batch = torch.from_numpy(frames).permute(0, 3, 1, 2).float().div(255.0).unsqueeze(0)
        with torch.no_grad():
            attention = model.eval()(batch, K.unsqueeze(0), return_attention=True)["attention"]
        grid = (height // 8, width // 8)
        plot_attention(frames, attention["spatial"][0].numpy(), attention["temporal"][0].numpy(), grid,
                       attention_queries(grid, moving), path)

    def test_frames_with_gt(self):
        """The held-out frames the evaluation scores (the test split) and their frame source."""
        from tcdepth.data.synthetic import SyntheticFrames

        store = SyntheticFrames(self.s.data_dir)
        return store, store.read_split(self.layout.split("test"))

    def constant_map_level(self) -> float:
        """abs_rel of a constant depth map on the held-out frames by the evaluation's protocol (median scaling
        makes the constant irrelevant): the level below which a model has learned something about the scene."""
        from tcdepth.evaluation.eigen import evaluate_eigen

        store, items = self.test_frames_with_gt()
        gts = [store.gt_depth(item) for item in items]
        return evaluate_eigen(gts, [np.ones_like(gt) for gt in gts]).mean["abs_rel"]

    def depth_comparison(self, path: Path, count: int = 4) -> None:
        """For ``count`` held-out frames: the frame, the ground truth and both models' depth, as inverse depth on
        one colour scale; each prediction is median-scaled to the ground truth as the evaluation does, so the
        colours compare like the abs_rel column (black: no ground truth, i.e. sky)."""
        from tcdepth.evaluation.predict import DepthPredictor
        from tcdepth.metrics import EigenOptions, crop_mask, resize_bilinear
        from tcdepth.runs import load_trained_model
        from tcdepth.visualize import colorize, contact_sheet, save_png

        store, items = self.test_frames_with_gt()
        picks = [items[i] for i in np.linspace(0, len(items) - 1, count).round().astype(int)]
        predictors = {}
        for name, run in (("Monodepth2", self.baseline_run), ("TC-Depth", self.tcdepth_run)):
            model = load_trained_model(run.path)
            predictors[name] = DepthPredictor(model.depth_net, model.model_config.min_depth,
                                              model.model_config.max_depth, model.height, model.width)
        options = EigenOptions()
        rows, gt_inverse = [], []
        for item in picks:
            gt = store.gt_depth(item)
            valid = (gt > options.min_depth) & (gt < options.max_depth)
            scored = valid & crop_mask(*gt.shape, options.crop)
            inverse = {"ground truth": np.where(valid, 1.0 / np.where(valid, gt, 1.0), np.nan)}
            for name, predictor in predictors.items():
                depth = 1.0 / resize_bilinear(predictor.predict(store, item).disp, *gt.shape)
                inverse[name] = np.median(depth[scored]) / (np.median(gt[scored]) * depth)
            gt_inverse.append(inverse["ground truth"][valid])
            rows.append(inverse)
        vmax = float(np.percentile(np.concatenate(gt_inverse), 95))
        sheet = [[np.asarray(store.load_image(item).convert("RGB"))]
                 + [colorize(maps[name], vmin=0.0, vmax=vmax) for name in maps]
                 for item, maps in zip(picks, rows, strict=True)]
        save_png(path, contact_sheet(sheet, ["held-out frame", *rows[0]]))

    def point_cloud_figure(self, path: Path) -> None:
        from tcdepth.reporting.figures import plot_point_cloud, read_ply

        plot_point_cloud(*read_ply(self.s.predict_dir / ClipWriter.FUSED_CLOUD), path)

    def make_report(self) -> Path:
        assets = self.s.assets_dir
        self.print(f"\n=== [{STEP_COUNT}/{STEP_COUNT}] Write the report (figures, table, page)")
        start = time.perf_counter()
        self.contact_sheet(assets / "contact_sheet.png")
        self.depth_comparison(assets / "depth_comparison.png")
        constant = self.constant_map_level()
        self.point_cloud_figure(assets / "point_cloud.png")
        self.attention_figure(assets / "attention.png")
        rows = [load_result(run.evaluation_dir / "metrics.json") for run in (self.baseline_run, self.tcdepth_run)]
        s = self.s
        network = self.tcdepth_run.network_size()
        warm_start = ", ".join(self.tcdepth_run.experiment().train.init_parts)
        settings = {
            "data": f"{s.sequences} synthetic sequences of {s.frames} frames rendered at {s.height}x{s.width}, "
                    f"resized to the networks' {network[0]}x{network[1]} (train: "
                    f"{', '.join(s.sequence_names()[:-2])}; validation: {s.sequence_names()[-2]}; held-out test: "
                    f"{s.test_sequence})",
            "baseline": f"{s.config_dir / BASELINE_CONFIG} with train.epochs={s.baseline_epochs}",
            "TC-Depth": f"{s.config_dir / TCDEPTH_CONFIG} with train.epochs={s.tcdepth_epochs}, teacher and "
                        f"warm start ({warm_start}): the baseline run",
            "budget": f"the same data for both models; the baseline starts from ImageNet, TC-Depth's {warm_start} "
                      "from the trained baseline (the rest from scratch); sized so that `make demo` finishes within "
                      "15 minutes on an idle 2-core CPU",
            "schedule": "learning-rate milestone at 75% of the epochs; data.path, train.out_dir as in the commands",
            "disk": "corr/ (correspondences) is kept for the test sequence only (TCM reads it); checkpoints are "
                    "deleted once a run has exported depth/pose.safetensors and run_info.json",
            "evaluation": f"Eigen metrics (garg crop, median scaling, 80 m cap) and TCM {list(TCM_WINDOWS)} on "
                          f"{s.frames - 2} test frames",
        }
        report = DemoReport(rows=rows, runs={"Monodepth2": self.baseline_run.path, "TC-Depth": self.tcdepth_run.path},
                            curves=assets / "curves.png", depth_comparison=assets / "depth_comparison.png",
                            constant_abs_rel=constant, contact_sheet=assets / "contact_sheet.png",
                            point_cloud=assets / "point_cloud.png",
                            attention=assets / "attention.png", video=s.predict_dir / ClipWriter.VIDEO,
                            steps=self.steps, settings=settings,
                            notes=["A demo-sized budget: the numbers show the pipeline working end to end, not "
                                   "converged accuracy.",
                                   f"This page: {command_line(['tcdepth', 'demo', '--out', s.out_dir])} (reuses "
                                   "every complete step; --fresh starts over). Results table: "
                                   + command_line(["tcdepth", "results", self.baseline_run.path,
                                                   self.tcdepth_run.path])])
        write_report(report, s.report_path)
        self.print(f"--- report: done in {format_duration(time.perf_counter() - start)}")
        self.print("\n" + results_markdown(rows))
        self.print(f"A constant depth map scores abs_rel {constant:.4f} on the same held-out frames (same protocol).")
        return s.report_path

    # ------------------------------------------------------------------------------------------------ the job
    def run(self, fresh: bool = False) -> Path:
        """Run (or reuse) every step and write the report; returns its path."""
        if fresh:
            self.clear()
        start = time.perf_counter()
        self.step("Synthetic train/validation/held-out test data", self.data_command(), self.data_complete,
                  self.make_data)
        self.train_step("Train the Monodepth2 baseline (the teacher)", BASELINE_CONFIG, self.s.baseline_epochs, [])
        self.train_step("Train TC-Depth tiny with the baseline as teacher", TCDEPTH_CONFIG, self.s.tcdepth_epochs,
                        self.s.student_overrides(self.baseline_run.path))
        self.evaluate_step("Evaluate the baseline (Eigen, TCM)", self.baseline_run)
        self.evaluate_step("Evaluate TC-Depth (Eigen, TCM)", self.tcdepth_run)
        self.step("Predict the held-out clip with TC-Depth", self.predict_command(), self.prediction_complete,
                  self.predict)
        self.make_report()
        self.print(f"\ndemo finished in {format_duration(time.perf_counter() - start)}")
        self.print(f"report: {self.s.report_path.resolve()}")
        return self.s.report_path
