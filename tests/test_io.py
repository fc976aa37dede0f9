import os
import pickle
import stat
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tcdepth.io import (
    UnsafeFileError,
    atomic_path,
    atomic_write_text,
    load_numeric_npy,
    load_numeric_npz,
    remove_temporary_files,
)


class Payload:
    """Pickles to a call of ``Path.touch`` on ``marker``: unpickling it with plain pickle creates the file."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def write_payload_npy(path: Path, marker: Path) -> None:
    """A .npy object array whose one entry runs code when loaded with ``allow_pickle=True``."""
    array = np.empty(1, dtype=object)
    array[0] = Payload(marker)
    np.save(path, array, allow_pickle=True)


def write_payload_npz(path: Path, marker: Path, key: str = "data") -> None:
    array = np.empty(1, dtype=object)
    array[0] = Payload(marker)
    np.savez(path, **{key: array})


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_atomic_files_follow_the_umask(tmp_path, umask):
    previous = os.umask(umask)
    try:
        atomic_write_text(tmp_path / "a.txt", "x")
        reference = tmp_path / "reference.txt"
        reference.write_text("x")  # what open() gives a new file under this umask
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == stat.S_IMODE(reference.stat().st_mode)
    assert stat.S_IMODE(reference.stat().st_mode) == 0o666 & ~umask


def test_failed_atomic_write_leaves_nothing_and_leftovers_are_removed(tmp_path):
    with pytest.raises(RuntimeError), atomic_path(tmp_path / "x.ckpt") as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError
    assert list(tmp_path.iterdir()) == []
    left = tmp_path / ".last.abc123.tmp.ckpt"  # what a killed process leaves
    left.write_bytes(b"")
    keep = tmp_path / "last.ckpt"
    keep.write_bytes(b"ok")
    assert remove_temporary_files(tmp_path) == [left]
    assert list(tmp_path.iterdir()) == [keep]


def test_payloads_run_with_plain_numpy_but_not_with_the_restricted_loader(tmp_path):
    marker = tmp_path / "ran"
    write_payload_npy(tmp_path / "evil.npy", marker)
    np.load(tmp_path / "evil.npy", allow_pickle=True)  # the control: NumPy's loader runs the payload
    assert marker.exists()
    marker.unlink()
    with pytest.raises(UnsafeFileError, match=r"evil.npy: refused: .*pathlib.*touch"):
        load_numeric_npy(tmp_path / "evil.npy")
    write_payload_npz(tmp_path / "evil.npz", marker)
    with pytest.raises(UnsafeFileError, match="evil.npz: refused"):
        load_numeric_npz(tmp_path / "evil.npz")
    assert not marker.exists()


def test_object_arrays_of_depth_maps_and_none_load(tmp_path):
    maps = np.empty(3, dtype=object)
    maps[0] = np.arange(6, dtype=np.float32).reshape(2, 3)
    maps[1] = None
    maps[2] = np.ones((4, 5), dtype=np.float64)
    np.savez_compressed(tmp_path / "gt.npz", data=maps)
    loaded = load_numeric_npz(tmp_path / "gt.npz")["data"]
    assert loaded.dtype == object and loaded[1] is None
    np.testing.assert_array_equal(loaded[0], maps[0])
    assert loaded[0].dtype == np.float32 and loaded[2].shape == (4, 5)
    np.save(tmp_path / "plain.npy", np.eye(3))
    np.testing.assert_array_equal(load_numeric_npy(tmp_path / "plain.npy"), np.eye(3))


def test_object_arrays_of_strings_and_non_arrays_are_refused(tmp_path):
    strings = np.array(["a", "b"], dtype=object)
    np.save(tmp_path / "strings.npy", strings, allow_pickle=True)
    with pytest.raises(UnsafeFileError, match="numeric arrays or None only"):
        load_numeric_npy(tmp_path / "strings.npy")
    with (tmp_path / "list.npy").open("wb") as handle:
        np.lib.format.write_array_header_1_0(handle, {"descr": "|O", "fortran_order": False, "shape": (1,)})
        pickle.dump([1, 2], handle, protocol=3)
    with pytest.raises(UnsafeFileError, match="found a list"):
        load_numeric_npy(tmp_path / "list.npy")


@pytest.mark.parametrize("content", [b"", b"\x93NUMPY garbage", os.urandom(256)])
def test_corrupt_files_name_the_file(tmp_path, content):
    (tmp_path / "bad.npy").write_bytes(content)
    with pytest.raises(ValueError, match="bad.npy: not a readable NumPy array"):
        load_numeric_npy(tmp_path / "bad.npy")
    (tmp_path / "bad.npz").write_bytes(content)
    with pytest.raises(ValueError, match="bad.npz: not a valid .npz"):
        load_numeric_npz(tmp_path / "bad.npz")
    with zipfile.ZipFile(tmp_path / "member.npz", "w") as archive:
        archive.writestr("data.npy", content)
    with pytest.raises(ValueError, match="member.npz: not a readable NumPy array"):
        load_numeric_npz(tmp_path / "member.npz")
