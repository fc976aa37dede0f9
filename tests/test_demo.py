"""`tcdepth demo` end to end at a tiny budget: every step runs, TC-Depth starts from the trained baseline, and a
second call reuses every complete step."""

from pathlib import Path

from tcdepth.demo import Demo, DemoSettings
from tcdepth.runs import Run

CONFIGS = Path(__file__).parents[1] / "configs"


def test_the_demo_runs_every_step_and_then_reuses_them(tmp_path):
    settings = DemoSettings(out_dir=tmp_path / "demo", config_dir=CONFIGS, sequences=3, frames=8, height=64,
                            width=192, baseline_epochs=1, tcdepth_epochs=1)
    printed = []
    report = Demo(settings, print_fn=printed.append).run()
    assert report.is_file() and "TC-Depth" in report.read_text()
    baseline, student = Run(settings.runs_dir / "synthetic_tiny_monodepth2"), Run(settings.runs_dir /
                                                                                  "synthetic_tiny_tcdepth")
    train = student.experiment().train
    assert train.init_from == str(baseline.path) and train.teacher.path == str(baseline.path)

    printed.clear()
    Demo(settings, print_fn=printed.append).run()
    assert sum("reusing the existing outputs" in line for line in printed) == 6
