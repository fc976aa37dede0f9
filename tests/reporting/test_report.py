"""The demo report builder on a fake run folder written in the test: every referenced file exists and the metrics
table shows the numbers of metrics.json; the figure helpers on known inputs."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from tcdepth.config import save_config
from tcdepth.experiment import ExperimentConfig
from tcdepth.inference.writers import ply_bytes
from tcdepth.reporting import DemoReport, ReportStep, load_result, write_report
from tcdepth.reporting.figures import attention_queries, plot_attention, read_metrics_csv, read_ply
from tcdepth.runs import Run
from tcdepth.visualize import save_png

METRICS = {  # method -> (abs_rel, sq_rel, rmse, a1, {window: tcm abs})
    "monodepth2": (0.18234, 1.51, 6.789012, 0.7512, {3: 0.123456, 5: 0.2, 7: 0.31}),
    "tcdepth": (0.15001, 1.2, 5.5, 0.80009, {3: 0.1, 5: 0.18765, 7: 0.29}),
}


class PageParser(HTMLParser):
    """Collects the media sources and the cells of the metrics table."""

    def __init__(self):
        super().__init__()
        self.sources: list[str] = []
        self.rows: list[list[str]] = []
        self._in_metrics = False
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in ("img", "source") and "src" in attrs:
            self.sources.append(attrs["src"])
        if tag == "table":
            self._in_metrics = attrs.get("id") == "metrics"
        if self._in_metrics and tag == "tr":
            self.rows.append([])
        if self._in_metrics and tag in ("td", "th"):
            self._cell = []

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell))
            self._cell = None
        if tag == "table":
            self._in_metrics = False


def fake_run(root: Path, architecture: str) -> Path:
    """A run directory as `tcdepth train` + the demo leave it, with an evaluation folder."""
    run = root / f"run_{architecture}"
    experiment = ExperimentConfig(name=f"fake_{architecture}")
    experiment.model.architecture = architecture
    experiment.model.encoder = "resnet18" if architecture == "monodepth2" else experiment.model.encoder
    experiment.data.height, experiment.data.width = 64, 224
    save_config(experiment, run / "config.yaml")
    (run / "logs").mkdir(parents=True)
    (run / "logs" / "metrics.csv").write_text(
        "epoch,lr-Adam,step,train/loss,val/a1,val/abs_rel\n,0.0002,0,,,\n0,,9,0.20,,\n0,,9,,0.5,0.4\n"
        "1,,19,0.15,,\n1,,19,,0.6,0.3\n")
    Run(run).write_info("cpu (2 cores, x86_64)", 20, 95.4)
    abs_rel, sq_rel, rmse, a1, tcm = METRICS[architecture]
    metrics = {"source": str(run), "eigen": {"metrics": {"abs_rel": abs_rel, "sq_rel": sq_rel, "rmse": rmse,
                                                         "rmse_log": 0.3, "a1": a1, "a2": 0.9, "a3": 0.95}},
               "tcm": {str(w): {"window": w, "metrics": {"abs": v, "sq": 0.0, "rmse": 0.0}} for w, v in tcm.items()}}
    (run / "evaluation").mkdir()
    (run / "evaluation" / "metrics.json").write_text(json.dumps(metrics))
    return run


@pytest.fixture
def page(tmp_path):
    runs = {a: fake_run(tmp_path / "runs", a) for a in METRICS}
    out = tmp_path / "out"
    assets = out / "assets"
    image = np.zeros((8, 16, 3), np.uint8)
    for name in ("depth_comparison", "contact_sheet", "point_cloud", "attention"):
        save_png(assets / f"{name}.png", image)
    (tmp_path / "predict").mkdir()
    (tmp_path / "predict" / "depth_video.mp4").write_bytes(b"not decoded by the test")
    report = DemoReport(rows=[load_result(runs[a] / "evaluation" / "metrics.json") for a in METRICS],
                        runs={a: runs[a] for a in METRICS}, curves=assets / "curves.png",
                        depth_comparison=assets / "depth_comparison.png", constant_abs_rel=0.5951,
                        contact_sheet=assets / "contact_sheet.png", point_cloud=assets / "point_cloud.png",
                        attention=assets / "attention.png", video=tmp_path / "predict" / "depth_video.mp4",
                        steps=[ReportStep("Evaluate", "tcdepth evaluate run --data synthetic", 12.0),
                               ReportStep("Predict", "tcdepth predict run clip <a&b>", None)],
                        settings={"data": "3 sequences"})
    path = write_report(report, out / "report.html")
    parser = PageParser()
    parser.feed(path.read_text())
    return path, parser


def test_every_image_and_video_source_exists(page):
    path, parser = page
    assert len(parser.sources) == 6  # depth comparison, curves, video, contact sheet, point cloud, attention
    for src in parser.sources:
        assert (path.parent / src).is_file(), src
    assert (path.parent / "assets" / "curves.png").stat().st_size > 1000


def test_table_numbers_equal_metrics_json(page):
    _, parser = page
    header, *rows = parser.rows
    assert header[:8] == ["method", "abs_rel", "sq_rel", "rmse", "a1", "TCM-3 abs", "TCM-5 abs", "TCM-7 abs"]
    assert len(rows) == 2
    for row, architecture in zip(rows, METRICS, strict=True):
        abs_rel, sq_rel, rmse, a1, tcm = METRICS[architecture]
        expected = [abs_rel, sq_rel, rmse, a1, tcm[3], tcm[5], tcm[7]]
        assert [float(c) for c in row[1:8]] == pytest.approx(expected, abs=5e-5)
        assert row[8:] == ["cpu (2 cores, x86_64)", "64x224", "20", "1m35s"]
    assert rows[0][0] == "Monodepth2 (fake_monodepth2)" and rows[1][0] == "TC-Depth (fake_tcdepth)"


def test_constant_map_level_is_shown_beside_the_table(page):
    path, _ = page
    text = path.read_text()
    assert text.index('id="metrics"') < text.index("constant depth map scores abs_rel 0.5951") < text.index("<img")


def test_commands_are_escaped(page):
    path, _ = page
    text = path.read_text()
    assert "tcdepth predict run clip &lt;a&amp;b&gt;" in text and "reused existing outputs" in text


def test_metrics_csv_keeps_only_logged_values(tmp_path):
    run = fake_run(tmp_path, "tcdepth")
    curves = read_metrics_csv(run / "logs" / "metrics.csv")
    steps, values = curves["val/abs_rel"]
    assert steps.tolist() == [9, 19] and values.tolist() == [0.4, 0.3]
    assert curves["train/loss"][1].tolist() == [0.20, 0.15]
    with pytest.raises(FileNotFoundError, match="missing.csv"):
        read_metrics_csv(tmp_path / "missing.csv")


@pytest.mark.parametrize("binary", [True, False])
def test_read_ply_reads_what_the_inference_writer_writes(tmp_path, binary):
    rng = np.random.default_rng(0)
    points = rng.normal(size=(50, 3)).astype(np.float32)
    colors = rng.integers(0, 256, size=(50, 3)).astype(np.uint8)
    (tmp_path / "c.ply").write_bytes(ply_bytes(points, colors, binary))
    read_points, read_colors = read_ply(tmp_path / "c.ply")
    np.testing.assert_allclose(read_points, points, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(read_colors, colors)


def test_read_ply_names_a_truncated_file(tmp_path):
    data = ply_bytes(np.zeros((10, 3)), np.zeros((10, 3)))
    (tmp_path / "t.ply").write_bytes(data[:-5])
    with pytest.raises(ValueError, match="t.ply: truncated"):
        read_ply(tmp_path / "t.ply")


def test_attention_queries_start_at_the_moving_object_and_stay_on_the_grid():
    mask = np.zeros((96, 320), bool)
    mask[40:56, 200:240] = True  # centre (47.5, 219.5) -> cell (5, 27) of a 12x40 grid
    queries = attention_queries((12, 40), mask)
    assert queries[0] == (5, 27) and len(queries) == 3 and len(set(queries)) == 3
    assert all(0 <= y < 12 and 0 <= x < 40 for y, x in attention_queries((2, 3), None))


def test_plot_attention_rejects_maps_of_another_grid(tmp_path):
    frames = np.zeros((3, 16, 32, 3), np.uint8)
    with pytest.raises(ValueError, match="2x4 grid"):
        plot_attention(frames, np.zeros((6, 6)), np.zeros((2, 8, 8)), (2, 4), [(0, 0)], tmp_path / "a.png")
