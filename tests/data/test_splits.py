"""Split-file parsing on the real KITTI split files and on malformed input."""

from pathlib import Path

import pytest

from tcdepth.data.splits import KittiSplitEntry, read_kitti_split, read_sequence_split

SPLITS = Path("/work/shared/kitti_splits")


@pytest.mark.parametrize("name, count", [
    ("eigen/test_files.txt", 697),
    ("eigen_zhou/train_files.txt", 39810),
    ("eigen_zhou/val_files.txt", 4424),
    ("eigen_benchmark/test_files.txt", 652),
    ("tcm/tcm_test_files.txt", 212),
])
def test_real_kitti_splits(name, count):
    entries = read_kitti_split(SPLITS / name)
    assert len(entries) == count
    assert all(e.side in ("l", "r") and e.frame >= 0 for e in entries)
    assert all(e.folder.startswith(e.date + "/" + e.date + "_drive_") for e in entries)


def test_first_lines_of_real_files():
    assert read_kitti_split(SPLITS / "eigen/test_files.txt")[0] == KittiSplitEntry(
        "2011_09_26/2011_09_26_drive_0002_sync", 69, "l")
    first = read_kitti_split(SPLITS / "eigen_zhou/train_files.txt")[0]
    assert (first.frame, first.side, first.camera) == (473, "r", 3)


def test_sequence_split(tmp_path):
    path = tmp_path / "train_files.txt"
    path.write_text("seq_000 5\n\nseq_001 12\n")
    entries = read_sequence_split(path)
    assert [(e.sequence, e.frame) for e in entries] == [("seq_000", 5), ("seq_001", 12)]


@pytest.mark.parametrize("text, line, what", [
    ("2011_09_26/2011_09_26_drive_0002_sync 69 l\n2011_09_26/2011_09_26_drive_0002_sync 70\n", 2, "expected"),
    ("2011_09_26/2011_09_26_drive_0002_sync 69 x\n", 1, "side"),
    ("a/b 1 l\na/b 2 l\na/b -3 l\n", 3, "non-negative integer"),
    ("drive_only 1 l\n", 1, "folder"),
])
def test_malformed_kitti_line_names_file_and_line(tmp_path, text, line, what):
    path = tmp_path / "bad_files.txt"
    path.write_text(text)
    with pytest.raises(ValueError, match=rf"bad_files.txt:{line}: .*{what}"):
        read_kitti_split(path)


def test_malformed_sequence_line_names_file_and_line(tmp_path):
    path = tmp_path / "val_files.txt"
    path.write_text("seq 1\nseq one\n")
    with pytest.raises(ValueError, match=r"val_files.txt:2: .*integer"):
        read_sequence_split(path)


def test_missing_split_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        read_kitti_split(tmp_path / "nope.txt")
