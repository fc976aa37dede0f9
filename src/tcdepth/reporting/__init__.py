"""Evidence of runs: ``run_info.json``, result tables from evaluation outputs, report figures and the demo's HTML
report. The demo pipeline itself is :mod:`tcdepth.reporting.demo` (imported on demand: it needs Lightning)."""

from tcdepth.reporting.html import DemoReport, ReportStep, write_report
from tcdepth.reporting.results import ResultRow, find_evaluations, load_result, results_markdown
from tcdepth.reporting.run_info import RUN_INFO_NAME, describe_device, read_run_info, write_run_info

__all__ = [
    "RUN_INFO_NAME",
    "DemoReport",
    "ReportStep",
    "ResultRow",
    "describe_device",
    "find_evaluations",
    "load_result",
    "read_run_info",
    "results_markdown",
    "write_report",
    "write_run_info",
]
