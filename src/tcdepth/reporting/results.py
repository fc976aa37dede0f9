"""Result rows from evaluation outputs (``metrics.json`` of ``tcdepth evaluate``) and their run directories, and
the markdown table of ``tcdepth results``."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

from tcdepth.runs import Run

ARCHITECTURE_LABELS = {"tcdepth": "TC-Depth", "monodepth2": "Monodepth2"}
DEPTH_COLUMNS = ("abs_rel", "sq_rel", "rmse", "a1")
TCM_WINDOWS = (3, 5, 7)
DIGITS = 4
# Runs that differ only by their seed are named <name>_seed<k> (benchmarks/synthetic_benchmark.py --seeds).
SEED_SUFFIX = re.compile(r"_seed\d+(?=\)$)")


@dataclass
class ResultRow:
    """One evaluated model: its Eigen and TCM numbers (from ``metrics.json``) and how its run was trained."""

    method: str
    evaluation: Path
    depth: dict[str, float]
    tcm_abs: dict[int, float]
    device: str | None
    resolution: str | None
    steps: int | None
    wall_time_s: float | None

    def cells(self) -> list[str]:
        """The row as table cells, in the order of :func:`table_header`."""
        return [self.method, *(format_number(self.depth[m]) for m in DEPTH_COLUMNS),
                *(format_number(self.tcm_abs[w]) if w in self.tcm_abs else "n/a" for w in TCM_WINDOWS),
                self.device or "n/a", self.resolution or "n/a",
                str(self.steps) if self.steps is not None else "n/a",
                format_duration(self.wall_time_s) if self.wall_time_s is not None else "n/a"]


def table_header() -> list[str]:
    return ["method", *DEPTH_COLUMNS, *(f"TCM-{w} abs" for w in TCM_WINDOWS), "device", "resolution", "steps",
            "wall time"]


def format_number(value: float) -> str:
    return "nan" if math.isnan(value) else f"{value:.{DIGITS}f}"


def format_duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def find_evaluations(paths: list[str | Path]) -> list[Path]:
    """``metrics.json`` files of the given evaluation folders, and of the evaluation folders directly inside the
    given run directories."""
    found = []
    for path in map(Path, paths):
        if (path / "metrics.json").is_file():
            found.append(path / "metrics.json")
        elif Run.is_run_dir(path):
            inside = sorted(path.glob("*/metrics.json"))
            if not inside:
                raise FileNotFoundError(f"run directory {path} holds no evaluation (<run>/<folder>/metrics.json of "
                                        "`tcdepth evaluate --out`)")
            found += inside
        else:
            raise FileNotFoundError(f"{path} is neither an evaluation folder (metrics.json) nor a run directory "
                                    f"({Run.CONFIG})")
    return found


def run_of(metrics_path: Path, source: str) -> Run | None:
    """The run of an evaluation: the folder holding it when that is a run, else its ``source``."""
    source_path = Path(source)
    for candidate in (metrics_path.parent.parent, source_path, source_path.parent):
        if Run.is_run_dir(candidate):
            return Run(candidate)
    return None


def load_result(metrics_path: str | Path) -> ResultRow:
    """The result row of one ``metrics.json`` (with its run's config and ``run_info.json`` when found)."""
    metrics_path = Path(metrics_path)
    try:
        metrics = json.loads(metrics_path.read_text())
        depth = {m: float(metrics["eigen"]["metrics"][m]) for m in DEPTH_COLUMNS}
        tcm_abs = {int(w): float(r["metrics"]["abs"]) for w, r in metrics.get("tcm", {}).items()}
        source = str(metrics["source"])
    except json.JSONDecodeError as err:
        raise ValueError(f"{metrics_path}: not valid JSON ({err})") from err
    except (KeyError, TypeError) as err:
        raise ValueError(f"{metrics_path}: not a metrics.json of `tcdepth evaluate` (missing {err})") from err
    run = run_of(metrics_path, source)
    method, resolution, info = Path(source).name, None, None
    if run is not None:
        experiment = run.experiment()
        architecture = experiment.model.architecture
        method = f"{ARCHITECTURE_LABELS.get(architecture, architecture)} ({experiment.name})"
        resolution = f"{experiment.data.height}x{experiment.data.width}"
        info = run.read_info()
    return ResultRow(method, metrics_path.parent, depth, tcm_abs, info["device"] if info else None, resolution,
                     info["steps"] if info else None, info["wall_time_s"] if info else None)


def results_markdown(rows: list[ResultRow]) -> str:
    """A markdown table of the rows (columns of :func:`table_header`), numbers with four decimals."""
    header = table_header()
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row.cells()) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def seed_groups(rows: list[ResultRow]) -> dict[str, list[ResultRow]]:
    """Rows grouped by method with the ``_seed<k>`` suffix of the run name removed, in order of first appearance."""
    groups: dict[str, list[ResultRow]] = {}
    for row in rows:
        groups.setdefault(SEED_SUFFIX.sub("", row.method), []).append(row)
    return groups


def seed_summary_markdown(rows: list[ResultRow]) -> str:
    """A markdown table of the mean and the spread (sample standard deviation; 0 for one seed) of every metric over
    the seeds of each method (:func:`seed_groups`)."""
    header = ["method", "seeds", *DEPTH_COLUMNS, *(f"TCM-{w} abs" for w in TCM_WINDOWS)]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for method, group in seed_groups(rows).items():
        columns = [[r.depth[m] for r in group] for m in DEPTH_COLUMNS]
        columns += [[r.tcm_abs.get(w, math.nan) for r in group] for w in TCM_WINDOWS]
        cells = [f"{format_number(mean)} ± {format_number(spread)}" for mean, spread in map(mean_and_spread, columns)]
        lines.append("| " + " | ".join([method, str(len(group)), *cells]) + " |")
    return "\n".join(lines) + "\n"


def mean_and_spread(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    mean = math.fsum(values) / len(values)
    if len(values) < 2:
        return mean, 0.0
    return mean, math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (len(values) - 1))
