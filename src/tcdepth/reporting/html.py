"""The demo's self-contained HTML report: metrics table, curves, depth video, point cloud, attention, commands."""

from __future__ import annotations

import html
import os
from dataclasses import dataclass, field
from pathlib import Path

from tcdepth.io import atomic_write_text
from tcdepth.reporting.figures import plot_training_curves
from tcdepth.reporting.results import ResultRow, format_duration, table_header
from tcdepth.runs import Run

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1250px; margin: 1.5em auto; padding: 0 1em; color: #222; }
table { border-collapse: collapse; font-size: 0.9em; }
th, td { border: 1px solid #bbb; padding: 0.25em 0.55em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #eee; }
img, video { max-width: 100%; border: 1px solid #ddd; }
pre { background: #f5f5f5; padding: 0.6em; white-space: pre-wrap; word-break: break-all; font-size: 0.85em; }
#settings td { text-align: left; }
.note { color: #555; font-size: 0.9em; }
"""


@dataclass
class ReportStep:
    """One step of the job: what it did, the command that reruns it, its time (None when its outputs were
    reused)."""

    title: str
    command: str
    seconds: float | None


@dataclass
class DemoReport:
    """Everything the report shows; paths are files on disk (written into the page relative to the report)."""

    rows: list[ResultRow]
    runs: dict[str, Path]
    curves: Path
    depth_comparison: Path
    constant_abs_rel: float
    contact_sheet: Path
    point_cloud: Path
    attention: Path
    video: Path | None = None
    steps: list[ReportStep] = field(default_factory=list)
    settings: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _src(path: Path, out_dir: Path) -> str:
    return html.escape(Path(os.path.relpath(path, out_dir)).as_posix(), quote=True)


def _table(rows: list[ResultRow]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in table_header())
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row.cells()) + "</tr>" for row in rows)
    return f'<table id="metrics"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _figure(title: str, path: Path, out_dir: Path, caption: str) -> str:
    return (f"<h2>{html.escape(title)}</h2><img src=\"{_src(path, out_dir)}\" alt=\"{html.escape(title)}\">"
            f"<p class=\"note\">{html.escape(caption)}</p>")


def write_report(report: DemoReport, out_path: str | Path) -> Path:
    """Plot the training curves of ``report.runs`` to ``report.curves`` and write the HTML page; returns its
    path."""
    out_path = Path(out_path)
    out_dir = out_path.parent
    plot_training_curves(report.runs, report.curves)
    parts = [f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>tcdepth demo</title><style>{STYLE}</style>"
             "</head><body><h1>tcdepth demo: TC-Depth vs. the Monodepth2 baseline on synthetic driving video</h1>",
             "<h2>Metrics on the held-out test sequence</h2>", _table(report.rows),
             f"<p id=\"constant\"><b>A constant depth map scores abs_rel {report.constant_abs_rel:.4f}</b> on the "
             "same frames with the same protocol: a model below it has learned something about the scene.</p>",
             "<p class=\"note\">Eigen metrics with per-image median scaling (lower is better except a1); TCM-w abs: "
             "mean absolute 3D track error over w-frame windows (lower is more temporally consistent). Numbers are "
             "read from each evaluation's metrics.json.</p>"]
    parts.append(_figure("Ground truth and both models on held-out frames", report.depth_comparison, out_dir,
                         "Inverse depth on one colour scale (magma, 0 to the ground truth's 95th percentile); each "
                         "prediction is median-scaled to the ground truth as in the metrics. Black in the ground "
                         "truth: no depth (sky)."))
    parts.append(_figure("Loss and validation curves", report.curves, out_dir,
                         f"From each run's {Run.LOGS}/{Run.METRICS}."))
    if report.video is not None:
        parts.append(f"<h2>Depth video (held-out clip, TC-Depth)</h2><video controls loop muted autoplay width=\"960\">"
                     f"<source src=\"{_src(report.video, out_dir)}\" type=\"video/mp4\">Your browser cannot play "
                     "this mp4; see the still frames below.</video>")
    parts.append(_figure("Frames and predicted depth (stills)", report.contact_sheet, out_dir,
                         "Input frames of the held-out clip and the inverse depth of TC-Depth (magma)."))
    parts.append(_figure("Fused point cloud of the clip", report.point_cloud, out_dir,
                         "Depth of every frame back-projected and placed with the predicted poses (fused.ply)."))
    parts.append(_figure("Attention maps", report.attention, out_dir,
                         "TC-Depth forward with return_attention=True on a held-out triplet: for each query cell "
                         "(cyan x), its spatial attention weights on frame t and its temporal attention weights on "
                         "frames t-1 and t+1 (bright = large weight)."))
    if report.settings:
        items = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>"
                        for k, v in report.settings.items())
        parts.append(f"<h2>Settings of this demo</h2><table id=\"settings\">{items}</table>")
    if report.steps:
        parts.append("<h2>Steps and the commands that rerun them</h2>")
        for step in report.steps:
            took = "reused existing outputs" if step.seconds is None else f"took {format_duration(step.seconds)}"
            parts.append(f"<h3>{html.escape(step.title)} <span class=\"note\">({took})</span></h3>"
                         f"<pre>{html.escape(step.command)}</pre>")
    parts += [f"<p class=\"note\">{html.escape(note)}</p>" for note in report.notes]
    parts.append("</body></html>\n")
    atomic_write_text(out_path, "\n".join(parts))
    return out_path
