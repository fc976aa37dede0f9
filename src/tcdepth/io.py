"""File input and output shared by every command.

Output is atomic: a file is either absent or complete, never half-written, and it gets the permissions the user's
umask gives a new file. Input of NumPy files never runs code: object arrays (the per-image depth maps of the
KITTI ``gt_depths.npz``) are read with an unpickler that rebuilds numeric arrays and nothing else.
"""

from __future__ import annotations

import contextlib
import io
import os
import pickle
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

TEMP_MARKER = ".tmp"  # every temporary file of atomic_path is named ``.<stem>.<random>.tmp<suffix>``


def _umask() -> int:
    # The umask can only be read by setting it; set it straight back.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed onto ``path``, on error removed.

    The temporary name keeps the suffix of ``path`` so that libraries that pick a format from it still work. The
    file ends with mode ``0o666 & ~umask`` (``mkstemp`` creates it ``0o600``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f"{TEMP_MARKER}{path.suffix}", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


@contextlib.contextmanager
def atomic_directory(path: str | Path) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; on success it is renamed onto ``path``, on error removed.

    ``path`` must not exist or be an empty folder (FileExistsError otherwise, before anything is written).
    """
    path = Path(path)
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise FileExistsError(f"{path} already exists and is not an empty folder")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=TEMP_MARKER, dir=path.parent))
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            shutil.rmtree(tmp_path)


def check_output_dir(path: str | Path, what: str) -> Path:
    """Raise ``ValueError`` naming ``what`` unless ``path`` is, or can be created as, a writable folder."""
    path = Path(path)
    for existing in (path, *path.parents):
        if not existing.exists():
            continue
        if not existing.is_dir():
            where = "" if existing == path else f" ({existing} is a file)"
            raise ValueError(f"{what} {path}: expected a folder, found a file{where}")
        if not os.access(existing, os.W_OK | os.X_OK):
            raise ValueError(f"{what} {path}: {existing} is not writable")
        break
    return path


def check_output_file(path: str | Path, what: str) -> Path:
    """Raise ``ValueError`` naming ``what`` unless a file can be written at ``path``."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{what} {path}: expected a file name, found a folder")
    check_output_dir(path.parent, what)
    return path


@contextlib.contextmanager
def removed_on_error(folder: str | Path) -> Iterator[Path]:
    """Run the block; when it fails, delete ``folder`` if it did not exist before (no half-made outputs)."""
    folder = Path(folder)
    existed = folder.exists()
    try:
        yield folder
    except BaseException:
        if not existed:
            shutil.rmtree(folder, ignore_errors=True)
        raise


def remove_temporary_files(folder: str | Path) -> list[Path]:
    """Delete the temporary files that :func:`atomic_path` left in ``folder`` when its process was killed."""
    removed = []
    for path in Path(folder).glob(f".*{TEMP_MARKER}*"):
        if path.is_file():
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


# ------------------------------------------------------------------------------------------------ NumPy input
class UnsafeFileError(ValueError):
    """A file holds something other than numeric arrays (pickled objects that could run code)."""


NUMERIC_KINDS = "biufc"  # bool, signed and unsigned integers, floats, complex


class _NumericArrayUnpickler(pickle.Unpickler):
    """Rebuilds ndarrays; every other global a pickle names is refused, so no code runs."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype")}

    def __init__(self, file, source: Path):
        super().__init__(file)
        self.source = source

    def find_class(self, module: str, name: str):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise UnsafeFileError(f"{self.source}: refused: its pickled data references {module}.{name}; only numeric "
                              "arrays (or None entries) are accepted")


def _check_numeric(array, source: Path) -> None:
    """Raise unless ``array`` is a plain ndarray or an object array whose entries are numeric ndarrays or None."""
    if not isinstance(array, np.ndarray):
        raise UnsafeFileError(f"{source}: expected NumPy arrays, found a {type(array).__name__}")
    if array.dtype.kind != "O":
        return
    for item in array.flat:
        if item is None:
            continue
        if not isinstance(item, np.ndarray) or item.dtype.kind not in NUMERIC_KINDS:
            found = item.dtype if isinstance(item, np.ndarray) else type(item).__name__
            raise UnsafeFileError(f"{source}: an object array may hold numeric arrays or None only, found {found}")


def _read_npy(handle, source: Path) -> np.ndarray:
    """One ``.npy`` stream: plain arrays as NumPy reads them, object arrays through the restricted unpickler."""
    start = handle.tell()
    try:
        version = np.lib.format.read_magic(handle)
        if version == (1, 0):
            _, _, dtype = np.lib.format.read_array_header_1_0(handle)
        elif version == (2, 0):
            _, _, dtype = np.lib.format.read_array_header_2_0(handle)
        else:
            dtype = None
        if dtype is not None and dtype.hasobject:
            array = _NumericArrayUnpickler(handle, source).load()
        else:
            handle.seek(start)
            array = np.lib.format.read_array(handle, allow_pickle=False)
    except UnsafeFileError:
        raise
    except (ValueError, OSError, EOFError, pickle.UnpicklingError, TypeError, AttributeError) as err:
        raise ValueError(f"{source}: not a readable NumPy array ({type(err).__name__}: {err})") from err
    _check_numeric(array, source)
    return array


def load_numeric_npy(path: str | Path) -> np.ndarray:
    """The array of a ``.npy`` file; object arrays must hold numeric arrays or None (:class:`UnsafeFileError`)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    with path.open("rb") as handle:
        return _read_npy(handle, path)


def load_numeric_npz(path: str | Path, keys=None) -> dict[str, np.ndarray]:
    """The arrays of a ``.npz`` file by key (all, or those of ``keys`` it holds), read as :func:`load_numeric_npy`
    reads one."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    try:
        with zipfile.ZipFile(path) as archive:
            arrays = {}
            for member in archive.namelist():
                key = member[:-4] if member.endswith(".npy") else member
                if keys is not None and key not in keys:
                    continue
                with archive.open(member) as raw:
                    # Zip members cannot seek backwards cheaply; each array is read from memory.
                    arrays[key] = _read_npy(io.BytesIO(raw.read()), path)
            return arrays
    except zipfile.BadZipFile as err:
        raise ValueError(f"{path}: not a valid .npz archive ({err})") from err
