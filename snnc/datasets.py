"""Datasets that snnc evaluates compiled models on: MNIST, Fashion-MNIST and scikit-learn's 8x8 digits.

Every loader returns a :class:`Dataset` whose ``x`` is float32 ``[N, *features]`` in ``[0, 1]`` and whose
``y`` is int64 ``[N]``. Following SPEC section 2, 8-bit image datasets are scaled as ``x = pixel / 255``
(float32 division, the same as ``torch``'s ``ToTensor``), with no mean or standard deviation applied.

Choices made here, where the SPEC is silent:

- MNIST-layout images keep their natural shape ``[N, 28, 28]``; :meth:`Dataset.reshaped` fits them to a
  model's input feature shape (``(784,)`` for an MLP, ``(1, 28, 28)`` for a CNN).
- The 8x8 digits hold values 0..16, so they are scaled as ``x = v / 16`` (exact in float32).
  Their split is deterministic: within each class, a permutation seeded with ``DIGITS_SEED`` (NumPy's
  legacy ``RandomState``, whose stream is frozen across NumPy versions) sends the first
  ``round(n_class / 4)`` samples to ``test`` and the rest to ``train``; both keep the original order.
- ``split="all"`` is every sample: for MNIST layouts the train set followed by the test set.
- ``limit=N`` keeps the first N samples of the chosen split (deterministic, no shuffling).

Example:
    >>> ds = load_dataset("mnist", data_dir="../shared/data/mnist", split="test", limit=100)  # doctest: +SKIP
    >>> ds.x.shape, ds.x.dtype, ds.reshaped((784,)).x.shape  # doctest: +SKIP
    ((100, 28, 28), dtype('float32'), (100, 784))
"""

from __future__ import annotations

import math
import os
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from snnc.errors import DatasetError

__all__ = [
    "DIGITS_SEED",
    "FASHION_MNIST_DEFAULT_DIR",
    "Dataset",
    "available_datasets",
    "digits_split_indices",
    "iter_batches",
    "load_dataset",
    "read_idx",
]

#: Where Debian's ``dataset-fashion-mnist`` package installs the Fashion-MNIST IDX files.
FASHION_MNIST_DEFAULT_DIR = "/usr/share/datasets/fashion-mnist"
#: Seed of the per-class permutation that splits the 8x8 digits into train and test.
DIGITS_SEED = 0
#: Fraction of each digits class that goes to the test split.
DIGITS_TEST_FRACTION = 0.25

_SPLITS = ("train", "test", "all")
_IDX_UBYTE = 0x08
#: the largest IDX file (raw or decompressed) read: 1 GiB, 20x the MNIST training images.
MAX_IDX_BYTES = 1 << 30
_GZIP_MAGIC = b"\x1f\x8b"
_MNIST_HINT = ("pass --data-dir DIR, a folder holding MNIST's four IDX files (train-images-idx3-ubyte, "
               "train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte; .gz or raw)")
_FASHION_HINT = (
    "pass --data-dir DIR (a folder holding the four Fashion-MNIST IDX files, .gz or raw), or install the "
    f"Debian package dataset-fashion-mnist, which puts them in {FASHION_MNIST_DEFAULT_DIR}"
)
_FASHION_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
_DIGIT_CLASSES = tuple(str(d) for d in range(10))


@dataclass(frozen=True, eq=False)
class Dataset:
    """A labelled classification dataset, ready to feed an encoder.

    Attributes:
        name: canonical dataset name (``"mnist"``, ``"fashion-mnist"``, ``"digits"``).
        split: ``"train"``, ``"test"`` or ``"all"``.
        x: float32 ``[N, *features]``, values in ``[0, 1]``.
        y: int64 ``[N]``, class indices in ``0 .. num_classes - 1``.
        num_classes: number of classes.
        features: the per-sample shape, ``x.shape[1:]``.
        source: where the samples came from (file paths or the package loader), for reports.
        class_names: a readable name per class.
    """

    name: str
    split: str
    x: np.ndarray
    y: np.ndarray
    num_classes: int
    features: tuple[int, ...]
    source: str
    class_names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.x.dtype != np.float32 or self.y.dtype != np.int64:
            raise DatasetError(f"dataset arrays must be float32 x and int64 y, got {self.x.dtype} and {self.y.dtype}",
                               where=self.name)
        if self.x.shape[0] != self.y.shape[0] or self.y.ndim != 1:
            raise DatasetError(f"x has {self.x.shape[0]} samples but y has shape {self.y.shape}", where=self.name)
        if tuple(self.x.shape[1:]) != tuple(self.features):
            raise DatasetError(f"features {tuple(self.features)} do not match x of shape {self.x.shape}",
                               where=self.name)

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def reshaped(self, features: Sequence[int]) -> Dataset:
        """The same samples with each one reshaped to ``features`` (a view, no copy).

        Args:
            features: the model's input feature shape without the batch axis, e.g. ``(784,)`` or ``(1, 28, 28)``.

        Returns:
            A new :class:`Dataset` whose ``x`` has shape ``[N, *features]``.

        Raises:
            DatasetError: ``features`` has a non-positive entry or a different number of values per sample.

        Example:
            >>> ds.reshaped((1, 28, 28)).x.shape  # doctest: +SKIP
            (10000, 1, 28, 28)
        """
        try:
            target = tuple(int(f) for f in features)
        except (TypeError, ValueError):
            raise DatasetError(f"feature shape must be a sequence of integers, got {features!r}",
                               where=self.name) from None
        if any(f <= 0 for f in target):
            raise DatasetError(f"feature shape {target} has a non-positive size", where=self.name)
        have, want = math.prod(self.features), math.prod(target)
        if have != want:
            raise DatasetError(
                f"samples of shape {self.features} have {have} values but the model expects {target} = {want}",
                where=self.name,
                hint="use a model trained on this dataset, or pick the dataset the model was trained on",
            )
        x = self.x.reshape((self.x.shape[0], *target))
        return replace(self, x=x, features=target)


def iter_batches(dataset: Dataset, batch_size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``(x, y)`` slices of ``batch_size`` samples in order; the last batch may be shorter.

    Args:
        dataset: the dataset to walk.
        batch_size: samples per batch, at least 1.

    Returns:
        An iterator of views ``(x[i:i+batch_size], y[i:i+batch_size])``.

    Example:
        >>> for xb, yb in iter_batches(ds, 256):  # doctest: +SKIP
        ...     correct += int((backend.run(graph, xb).predictions == yb).sum())
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer) or batch_size < 1:
        raise DatasetError(f"batch size must be a positive integer, got {batch_size!r}", where=dataset.name)
    for start in range(0, len(dataset), int(batch_size)):
        stop = start + int(batch_size)
        yield dataset.x[start:stop], dataset.y[start:stop]


# --------------------------------------------------------------------------------------------- IDX files

def _read_bytes(path: Path) -> bytes:
    """The file's bytes, gunzipped when they start with the gzip magic (whatever the file is called).

    Neither the file nor its decompressed content may exceed :data:`MAX_IDX_BYTES` (a damaged header or a
    gzip bomb fails here, before it fills the memory).
    """
    from snnc.io import check_input

    check_input(path, what="dataset file", max_bytes=1 << 62, error=DatasetError)  # a FIFO or device: refused
    try:
        size = path.stat().st_size
        if size > MAX_IDX_BYTES:
            raise DatasetError(f"file of {size} bytes is larger than any IDX dataset snnc reads "
                               f"({MAX_IDX_BYTES} bytes)", where=str(path))
        data = path.read_bytes()
    except OSError as exc:
        raise DatasetError(f"cannot read file: {exc.strerror or exc}", where=str(path)) from None
    if data[:2] != _GZIP_MAGIC:
        return data
    try:
        return _gunzip(data, path)
    except (OSError, EOFError, zlib.error) as exc:
        raise DatasetError(f"corrupt gzip data: {exc}", where=str(path),
                           hint="the file is damaged or truncated; fetch it again") from None


def _gunzip(data: bytes, path: Path) -> bytes:
    """``gzip.decompress`` (every member), stopping with a DatasetError past :data:`MAX_IDX_BYTES`."""
    out: list[bytes] = []
    total = 0
    while data:
        d = zlib.decompressobj(wbits=31)
        chunk = d.decompress(data, MAX_IDX_BYTES - total + 1)
        total += len(chunk)
        if total > MAX_IDX_BYTES:
            raise DatasetError(f"gzip data decompresses to more than {MAX_IDX_BYTES} bytes", where=str(path),
                               hint="this is not an IDX dataset file (or it is damaged); fetch it again")
        if not d.eof:
            raise EOFError("Compressed file ended before the end-of-stream marker was reached")
        out.append(chunk)
        data = d.unused_data.lstrip(b"\0")  # gzip allows zero padding after the last member
    return b"".join(out)


def read_idx(path: str | Path, *, ndim: int | None = None) -> np.ndarray:
    """Read one IDX file of unsigned bytes (the MNIST file format), gzipped or raw.

    The header is two zero bytes, a type code (``0x08`` = unsigned byte), the number of dimensions D,
    then D big-endian uint32 sizes; the data follows. The file size must match the header exactly.

    Args:
        path: the file.
        ndim: the number of dimensions the caller needs (3 for images, 1 for labels), or None for any.

    Returns:
        A uint8 array of the header's shape (a read-only view on the decompressed bytes).

    Raises:
        DatasetError: bad magic, type code or dimension count, or a size that does not match the header.
    """
    path = Path(path)
    data = _read_bytes(path)
    where = str(path)
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise DatasetError(f"not an IDX file: bad magic number {data[:4].hex() or '(empty)'}", where=where,
                           hint="expected 00 00 08 0D (unsigned bytes, D dimensions)")
    if data[2] != _IDX_UBYTE:
        raise DatasetError(f"unsupported IDX data type 0x{data[2]:02x}, expected 0x08 (unsigned byte)", where=where)
    dims = data[3]
    if ndim is not None and dims != ndim:
        raise DatasetError(f"IDX file has {dims} dimensions, expected {ndim}", where=where)
    header = 4 + 4 * dims
    if len(data) < header:
        raise DatasetError(f"file is truncated: expected at least {header} header bytes, got {len(data)}", where=where)
    shape = tuple(int(s) for s in np.frombuffer(data, dtype=">u4", count=dims, offset=4))
    expected = header + math.prod(shape)
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "longer than its header says"
        raise DatasetError(f"file is {what}: expected {expected} bytes for shape {shape}, got {len(data)}",
                           where=where, hint="the file is damaged or incomplete; fetch it again")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def _idx_file(data_dir: Path, stem: str, dataset: str, hint: str) -> Path:
    """Find ``stem`` in ``data_dir``: raw or ``.gz``, with the ``-idx`` or ``.idx`` spelling; raw wins."""
    dotted = stem.replace("-idx", ".idx")
    for name in (stem, dotted, stem + ".gz", dotted + ".gz"):
        candidate = data_dir / name
        if candidate.exists() and not candidate.is_dir():  # a FIFO or device is found, then refused by type
            return candidate
    raise DatasetError(f"{dataset} file {stem} (or {stem}.gz) not found", where=str(data_dir), hint=hint)


def _unit_pixels(pixels: np.ndarray) -> np.ndarray:
    """``pixel / 255`` in float32, correctly rounded (the value ``torch``'s ``ToTensor`` gives)."""
    return np.divide(pixels, np.float32(255), dtype=np.float32)


def _read_idx_split(data_dir: Path, prefix: str, dataset: str, hint: str, limit: int | None,
                    ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    images_path = _idx_file(data_dir, f"{prefix}-images-idx3-ubyte", dataset, hint)
    labels_path = _idx_file(data_dir, f"{prefix}-labels-idx1-ubyte", dataset, hint)
    images = read_idx(images_path, ndim=3)
    labels = read_idx(labels_path, ndim=1)
    if images.shape[1:] != (28, 28):
        raise DatasetError(f"{dataset} images must be 28x28, got {images.shape[1]}x{images.shape[2]}",
                           where=str(images_path))
    if labels.shape[0] != images.shape[0]:
        raise DatasetError(f"{labels.shape[0]} labels for {images.shape[0]} images", where=str(labels_path),
                           hint=f"{labels_path.name} and {images_path.name} must come from the same {prefix} set")
    bad = np.flatnonzero(labels > 9)
    if bad.size:
        raise DatasetError(f"label {int(labels[bad[0]])} at index {int(bad[0])} is out of range 0..9",
                           where=str(labels_path))
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    return _unit_pixels(images), labels.astype(np.int64), [str(images_path), str(labels_path)]


def _load_idx_dataset(name: str, data_dir: Path, split: str, limit: int | None, hint: str,
                      class_names: tuple[str, ...]) -> Dataset:
    if not data_dir.is_dir():
        raise DatasetError(f"{name} data folder does not exist", where=str(data_dir), hint=hint)
    prefixes = {"train": ["train"], "test": ["t10k"], "all": ["train", "t10k"]}[split]
    xs, ys, sources = [], [], []
    remaining = limit
    for prefix in prefixes:
        if remaining == 0 and xs:
            break
        x, y, paths = _read_idx_split(data_dir, prefix, name, hint, remaining)
        xs.append(x)
        ys.append(y)
        sources += paths
        if remaining is not None:
            remaining -= len(y)
    x = xs[0] if len(xs) == 1 else np.concatenate(xs)
    y = ys[0] if len(ys) == 1 else np.concatenate(ys)
    return Dataset(name=name, split=split, x=x, y=y, num_classes=10, features=tuple(x.shape[1:]),
                   source=", ".join(sources), class_names=class_names)


def _load_mnist(data_dir: str | None, split: str, limit: int | None) -> Dataset:
    if data_dir is None:
        raise DatasetError("dataset 'mnist' needs a data folder, none was given", where="mnist", hint=_MNIST_HINT)
    return _load_idx_dataset("mnist", Path(data_dir), split, limit, _MNIST_HINT, _DIGIT_CLASSES)


def _load_fashion_mnist(data_dir: str | None, split: str, limit: int | None) -> Dataset:
    folder = Path(data_dir if data_dir is not None else FASHION_MNIST_DEFAULT_DIR)
    return _load_idx_dataset("fashion-mnist", folder, split, limit, _FASHION_HINT, _FASHION_CLASSES)


# --------------------------------------------------------------------------------------------- digits

def digits_split_indices(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The deterministic ``(train, test)`` index arrays of the 8x8 digits (see the module docstring).

    Args:
        y: the labels of the full dataset.

    Returns:
        Two sorted, disjoint int64 index arrays that together cover ``range(len(y))``.
    """
    rng = np.random.RandomState(DIGITS_SEED)
    test_parts = []
    for label in np.unique(y):
        members = np.flatnonzero(y == label)
        n_test = int(round(len(members) * DIGITS_TEST_FRACTION))
        test_parts.append(members[rng.permutation(len(members))[:n_test]])
    test = np.sort(np.concatenate(test_parts)).astype(np.int64)
    train = np.setdiff1d(np.arange(len(y), dtype=np.int64), test)
    return train, test


def _load_digits(data_dir: str | None, split: str, limit: int | None) -> Dataset:
    if data_dir is not None:
        raise DatasetError("dataset 'digits' ships with scikit-learn and takes no data folder", where="digits",
                           hint="leave out --data-dir")
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise DatasetError("dataset 'digits' needs scikit-learn, which is not installed", where="digits",
                           hint="pip install 'snnc[datasets]' (or: pip install scikit-learn)") from None
    bunch = load_digits()
    images = np.asarray(bunch.images)
    labels = np.asarray(bunch.target, dtype=np.int64)
    if split != "all":
        train, test = digits_split_indices(labels)
        keep = train if split == "train" else test
        images, labels = images[keep], labels[keep]
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    x = (images.astype(np.float32) / np.float32(16)).astype(np.float32)
    return Dataset(name="digits", split=split, x=x, y=labels, num_classes=10, features=tuple(x.shape[1:]),
                   source="sklearn.datasets.load_digits (UCI optical recognition of handwritten digits, 8x8)",
                   class_names=_DIGIT_CLASSES)


# --------------------------------------------------------------------------------------------- registry

_Loader = Callable[[str | None, str, int | None], Dataset]

#: name -> (loader, one-line description). Loaders take ``(data_dir, split, limit)``, already validated.
_DATASETS: dict[str, tuple[_Loader, str]] = {
    "mnist": (_load_mnist, "MNIST handwritten digits, 28x28, 60000 train / 10000 test; IDX files from --data-dir"),
    "fashion-mnist": (_load_fashion_mnist, "Zalando Fashion-MNIST, 28x28, 60000 train / 10000 test; IDX files "
                      f"from --data-dir or {FASHION_MNIST_DEFAULT_DIR}"),
    "digits": (_load_digits, "UCI 8x8 digits bundled with scikit-learn, 1797 images, values scaled by 1/16"),
}


def available_datasets() -> dict[str, str]:
    """Dataset names that :func:`load_dataset` accepts, each with a one-line description."""
    return {name: description for name, (_, description) in _DATASETS.items()}


def load_dataset(name: str, data_dir: str | os.PathLike[str] | None = None, split: str = "test",
                 limit: int | None = None) -> Dataset:
    """Load a dataset by name.

    Args:
        name: ``"mnist"``, ``"fashion-mnist"`` or ``"digits"`` (case and ``_`` / ``-`` do not matter).
        data_dir: folder with the IDX files (required for ``mnist``; ``fashion-mnist`` defaults to
            ``/usr/share/datasets/fashion-mnist``; ``digits`` takes none).
        split: ``"train"``, ``"test"`` or ``"all"``.
        limit: keep only the first ``limit`` samples of the split (None: all of them).

    Returns:
        A :class:`Dataset` with float32 ``x`` in ``[0, 1]`` and int64 ``y``.

    Raises:
        DatasetError: unknown name or split, a bad limit, missing or malformed files.

    Example:
        >>> ds = load_dataset("digits", split="test")  # doctest: +SKIP
        >>> ds.x.shape, ds.num_classes  # doctest: +SKIP
        ((450, 8, 8), 10)
    """
    key = str(name).strip().lower().replace("_", "-")
    if key not in _DATASETS:
        raise DatasetError(f"unknown dataset {name!r}; known datasets: {', '.join(_DATASETS)}")
    if split not in _SPLITS:
        raise DatasetError(f"unknown split {split!r}; expected one of: {', '.join(_SPLITS)}", where=key)
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int | np.integer) or limit < 0):
        raise DatasetError(f"limit must be a non-negative integer or None, got {limit!r}", where=key)
    loader, _ = _DATASETS[key]
    data = loader(None if data_dir is None else str(data_dir), split, None if limit is None else int(limit))
    if len(data) == 0 and limit != 0:  # accuracy, rates and spike statistics of no images are nan (issue 19)
        raise DatasetError(f"the {split} split of {key} holds no images", where=str(data_dir or key),
                           hint="its IDX files say 0 images; fetch the dataset again")
    return data
