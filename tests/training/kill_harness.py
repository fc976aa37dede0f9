"""Kill harness: SIGKILL a small `tcdepth train` run at random moments and check that it resumes exactly.

It trains a reference run without interruption, then runs the same command again and again in another output folder,
killing the whole process group with SIGKILL while it runs: at a random time, during the first or second checkpoint
write of the process (its temporary file exists), or just after an epoch checkpoint appeared and before
``last.ckpt`` follows. After the kills the command runs to the end; a rerun that finishes before its kill is compared
too and the next kills start over in an empty folder. A reference run found in the output folder is reused. The two
runs must agree: the same final global step, bitwise identical exported weights, the same ``metrics.csv`` rows (the
wall-clock column ``samples_per_s`` left out), no temporary files and no more epoch checkpoints than
``train.keep_checkpoints``.

Usage (from the repository root; a few minutes per kill on a 2-core CPU)::

    .venv/bin/python tests/training/kill_harness.py --kills 20 --out /tmp/kill_harness

``tests/training/test_kill_harness.py`` runs it with two kills.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "configs" / "synthetic_tiny.yaml"
TRIGGERS = ("checkpoint-write", "between-checkpoints", "time")
WALL_CLOCK_COLUMNS = {"samples_per_s"}


@dataclass
class HarnessResult:
    kills: list[dict] = field(default_factory=list)
    reruns: int = 0
    reference_step: int = -1
    resumed_step: int = -1
    max_weight_difference: float = float("nan")
    metrics_rows: tuple[int, int] = (0, 0)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def make_data(root: Path) -> None:
    from tcdepth.synth import SynthConfig, write_dataset

    if not (root / "splits").is_dir():
        write_dataset(SynthConfig(width=192, height=64, frames=14, flow_range=0), root, sequences=1, seed=3)


def train_command(data: Path, out_dir: Path, epochs: int, workers: int) -> list[str]:
    overrides = ["name=kill", f"data.path={data}", "data.height=64", "data.width=192", f"data.num_workers={workers}",
                 f"train.out_dir={out_dir}", f"train.epochs={epochs}", "train.batch_size=2",
                 "train.image_every_steps=3", "train.log_every_steps=1", "train.teacher.mode=none",
                 "loss.use_motion_loss=false", "model.num_blocks=1", "model.tiny_width=0.125",
                 "model.decoder_width=0.25", "model.num_reference_bins=64", "model.pose_encoder=efficientnet_lite0",
                 "train.accelerator=cpu", "train.init_from=null"]
    return [sys.executable, "-m", "tcdepth.cli.main", "train", str(CONFIG), *overrides, "--no-progress"]


def start(command: list[str], log: Path) -> subprocess.Popen:
    handle = log.open("ab")
    return subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True, cwd=REPO)


def kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()


def wait_for_trigger(process: subprocess.Popen, trigger: str, delay: float, write: int,
                     checkpoints: Path) -> str | None:
    """Poll until the trigger fires (returns what was seen) or the process ends (None): ``time`` after ``delay``
    seconds, ``checkpoint-write`` during the ``write``-th checkpoint write of this process, ``between-checkpoints``
    when a new epoch checkpoint appears."""
    started = time.monotonic()
    seen_epochs = {p.name for p in checkpoints.glob("epoch=*.ckpt")}
    writes: list[str] = []
    while process.poll() is None:
        if trigger == "time" and time.monotonic() - started >= delay:
            return f"after {delay:.1f} s"
        if trigger == "checkpoint-write":
            writes += [p.name for p in checkpoints.glob(".*.tmp*") if p.name not in writes]
            if len(writes) >= write:
                return f"while writing {writes[write - 1]} (write {write} of this run)"
        if trigger == "between-checkpoints":
            new = {p.name for p in checkpoints.glob("epoch=*.ckpt")} - seen_epochs
            if new:
                return f"after {sorted(new)[0]} appeared"
        time.sleep(0.002)
    return None


def read_rows(path: Path) -> list[dict]:
    with path.open(newline="") as handle:
        return [{k: v for k, v in row.items() if v and k not in WALL_CLOCK_COLUMNS} for row in csv.DictReader(handle)]


def compare(reference: Path, resumed: Path, keep: int, result: HarnessResult) -> None:
    for run in (reference, resumed):
        if not (run / "depth.safetensors").is_file():
            result.problems.append(f"{run} has no exported weights")
            return
    result.reference_step = json.loads((reference / "run_info.json").read_text())["steps"]
    result.resumed_step = json.loads((resumed / "run_info.json").read_text())["steps"]
    if result.reference_step != result.resumed_step:
        result.problems.append(f"global step {result.resumed_step}, expected {result.reference_step}")
    difference = 0.0
    for name in ("depth.safetensors", "pose.safetensors"):
        a, b = load_file(reference / name), load_file(resumed / name)
        if a.keys() != b.keys():
            result.problems.append(f"{name}: different tensors")
            continue
        for key in a:
            if not torch.equal(a[key], b[key]):
                difference = max(difference, (a[key].double() - b[key].double()).abs().max().item())
    result.max_weight_difference = difference
    if difference:
        result.problems.append(f"weights differ by up to {difference:.3g}")
    rows_a, rows_b = read_rows(reference / "logs" / "metrics.csv"), read_rows(resumed / "logs" / "metrics.csv")
    result.metrics_rows = (len(rows_a), len(rows_b))
    if rows_a != rows_b:
        pairs = enumerate(zip(rows_a, rows_b, strict=False))
        first = next((i for i, (x, y) in pairs if x != y), min(len(rows_a), len(rows_b)))
        result.problems.append(f"metrics.csv: {len(rows_b)} rows, expected {len(rows_a)}; first difference at row "
                               f"{first}")
    leftovers = [p.name for p in resumed.rglob(".*.tmp*")]
    if leftovers:
        result.problems.append(f"temporary files left: {leftovers}")
    epochs = sorted(p.name for p in (resumed / "checkpoints").glob("epoch=*"))
    if len(epochs) > keep or any("-v" in name for name in epochs):
        result.problems.append(f"epoch checkpoints {epochs} (keep {keep})")


def run_harness(out: Path, kills: int, seed: int = 0, epochs: int = 3, workers: int = 1,
                print_fn=print) -> HarnessResult:
    """Reference run, then chains of killed reruns; a chain whose rerun finishes (or the last one, after the final
    kill) is compared with the reference and the next chain starts from an empty folder."""
    out.mkdir(parents=True, exist_ok=True)
    data = out / "data"
    make_data(data)
    rng = random.Random(seed)
    result = HarnessResult()
    log = out / "train.log"

    timing = out / "reference_seconds.txt"
    if timing.is_file() and (out / "reference" / "kill" / "run_info.json").is_file():
        duration = float(timing.read_text())
        print_fn(f"reusing the reference run in {out / 'reference'} ({duration:.0f} s)")
    else:
        started = time.monotonic()
        reference = subprocess.run(train_command(data, out / "reference", epochs, workers), cwd=REPO,
                                   capture_output=True, text=True)
        duration = time.monotonic() - started
        if reference.returncode != 0:
            result.problems.append(f"reference run failed: {reference.stderr[-2000:]}")
            return result
        timing.write_text(f"{duration:.1f}\n")
        print_fn(f"reference run: {duration:.0f} s")
    shutil.rmtree(out / "killed", ignore_errors=True)

    command = train_command(data, out / "killed", epochs, workers)
    checkpoints = out / "killed" / "kill" / "checkpoints"
    killed = 0
    while killed < kills:
        trigger = TRIGGERS[killed] if killed < len(TRIGGERS) else rng.choice(TRIGGERS)
        delay, write = rng.uniform(0.0, duration), rng.randint(1, 2)
        fresh, started = not checkpoints.is_dir(), time.monotonic()
        process = start(command, log)
        seen = wait_for_trigger(process, trigger, delay, write, checkpoints)
        result.reruns += 1
        if seen is None:
            if fresh and process.returncode == 0:
                # A whole run took this long now: random times are drawn over it (the machine's load changes).
                duration = min(duration, time.monotonic() - started)
            print_fn(f"rerun finished (rc {process.returncode}) before the {trigger} trigger: comparing")
            if process.returncode != 0:
                result.problems.append(f"a rerun failed with exit code {process.returncode} (see {log})")
                return result
            compare(out / "reference" / "kill", out / "killed" / "kill", keep=2, result=result)
            if not result.ok:
                return result
            shutil.rmtree(out / "killed")
            continue
        kill_group(process)
        killed += 1
        names = sorted(p.name for p in checkpoints.iterdir()) if checkpoints.is_dir() else []
        result.kills.append({"trigger": trigger, "seen": seen, "checkpoints": names})
        print_fn(f"kill {killed}: {trigger}: {seen}; checkpoints folder {names}")
    final = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    result.reruns += 1
    if final.returncode != 0:
        result.problems.append(f"final rerun failed ({final.returncode}): {final.stderr[-2000:]}")
        return result
    compare(out / "reference" / "kill", out / "killed" / "kill", keep=2, result=result)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--out", default="/tmp/kill_harness", help="working folder (data, both runs, train.log)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1, help="data.num_workers of the runs")
    args = parser.parse_args()
    result = run_harness(Path(args.out), args.kills, args.seed, args.epochs, args.workers)
    print(f"{len(result.kills)} SIGKILLs, {result.reruns} runs after the reference; final step {result.resumed_step} "
          f"(reference {result.reference_step}); max weight difference {result.max_weight_difference}; "
          f"metrics rows {result.metrics_rows[1]} (reference {result.metrics_rows[0]})")
    print("OK: identical to the uninterrupted run" if result.ok else "FAILED: " + "; ".join(result.problems))
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
