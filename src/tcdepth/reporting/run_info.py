"""``run_info.json`` of a run directory: the device, steps and wall time of its training (what ``metrics.json`` of
an evaluation cannot tell)."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

from tcdepth.io import atomic_write_text

RUN_INFO_NAME = "run_info.json"


def describe_device(device: str) -> str:
    """A readable name of a torch device: ``"cpu (2 cores, x86_64)"`` or the CUDA device name."""
    import torch

    if device.startswith("cuda") and torch.cuda.is_available():
        return f"{torch.cuda.get_device_name(torch.device(device))}"
    return f"cpu ({os.cpu_count()} cores, {platform.machine()})"


def write_run_info(run_dir: str | Path, device: str, steps: int, wall_time_s: float) -> dict:
    """Write ``<run_dir>/run_info.json`` atomically and return its content.

    Args:
        run_dir: the run directory of ``tcdepth train``.
        device: the device description (:func:`describe_device`).
        steps: optimiser steps of the finished run (``trainer.global_step``).
        wall_time_s: seconds spent training, summed over resumed sessions.
    """
    import torch

    info = {"device": device, "torch": torch.__version__, "steps": int(steps), "wall_time_s": float(wall_time_s)}
    atomic_write_text(Path(run_dir) / RUN_INFO_NAME, json.dumps(info, indent=2) + "\n")
    return info


def read_run_info(run_dir: str | Path) -> dict | None:
    """The content of ``<run_dir>/run_info.json``, or None when the run has none."""
    path = Path(run_dir) / RUN_INFO_NAME
    if not path.is_file():
        return None
    try:
        info = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from err
    missing = {"device", "steps", "wall_time_s"} - set(info)
    if missing:
        raise ValueError(f"{path}: missing field(s) {sorted(missing)}")
    return info
