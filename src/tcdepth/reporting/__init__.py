"""Evidence of runs: result tables from evaluation outputs, report figures and the demo's HTML report."""

from tcdepth.reporting.html import DemoReport, ReportStep, write_report
from tcdepth.reporting.results import (
    ResultRow,
    find_evaluations,
    load_result,
    results_markdown,
    seed_groups,
    seed_summary_markdown,
)

__all__ = [
    "DemoReport",
    "ReportStep",
    "ResultRow",
    "find_evaluations",
    "load_result",
    "results_markdown",
    "seed_groups",
    "seed_summary_markdown",
    "write_report",
]
