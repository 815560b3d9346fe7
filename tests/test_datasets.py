"""Tests of snnc.datasets on real IDX files written into tmp_path (and scikit-learn's bundled digits)."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from snnc.datasets import (
    FASHION_MNIST_DEFAULT_DIR,
    Dataset,
    available_datasets,
    digits_split_indices,
    iter_batches,
    load_dataset,
    read_idx,
)
from snnc.errors import DatasetError, SnncError

REAL_MNIST = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"


def idx_bytes(array: np.ndarray, *, type_code: int = 0x08, magic: bytes = b"\x00\x00") -> bytes:
    """The IDX encoding of a uint8 array: magic, type code, ndim, big-endian sizes, data."""
    header = magic + bytes([type_code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def write_idx(path: Path, array: np.ndarray, *, gz: bool = False, **kwargs: object) -> Path:
    data = idx_bytes(array, **kwargs)
    path = path.with_name(path.name + ".gz") if gz else path
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def make_images(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, 28, 28), dtype=np.uint8)


TRAIN_LABELS = np.array([5, 0, 4, 1, 9], dtype=np.uint8)
TEST_LABELS = np.array([7, 2, 1], dtype=np.uint8)


@pytest.fixture
def mnist_dir(tmp_path: Path) -> Path:
    """Train set gzipped (5 images), test set raw (3 images, the first holds every pixel value 0..255)."""
    folder = tmp_path / "mnist"
    folder.mkdir()
    test_images = make_images(3, seed=2)
    test_images[0].reshape(-1)[:256] = np.arange(256, dtype=np.uint8)
    write_idx(folder / "train-images-idx3-ubyte", make_images(5, seed=1), gz=True)
    write_idx(folder / "train-labels-idx1-ubyte", TRAIN_LABELS, gz=True)
    write_idx(folder / "t10k-images-idx3-ubyte", test_images)
    write_idx(folder / "t10k-labels-idx1-ubyte", TEST_LABELS)
    return folder


def expected_unit(pixels: np.ndarray) -> np.ndarray:
    return pixels.astype(np.float32) / np.float32(255)


# --------------------------------------------------------------------------------------------- reading

def test_raw_test_split_reads_back_exactly(mnist_dir: Path) -> None:
    ds = load_dataset("mnist", data_dir=str(mnist_dir), split="test")
    pixels = read_idx(mnist_dir / "t10k-images-idx3-ubyte")
    assert pixels.shape == (3, 28, 28) and pixels.dtype == np.uint8
    assert (ds.name, ds.split, ds.num_classes, ds.features, len(ds)) == ("mnist", "test", 10, (28, 28), 3)
    assert ds.x.dtype == np.float32 and ds.y.dtype == np.int64
    np.testing.assert_array_equal(ds.x, expected_unit(pixels))
    np.testing.assert_array_equal(ds.y, TEST_LABELS.astype(np.int64))
    assert "t10k-images-idx3-ubyte" in ds.source and "t10k-labels-idx1-ubyte" in ds.source


def test_pixels_scale_by_255_exactly(mnist_dir: Path) -> None:
    ds = load_dataset("mnist", data_dir=mnist_dir)
    first = ds.x[0].reshape(-1)[:256]
    # float32(p) / float32(255), correctly rounded: the same as rounding the exact double quotient.
    np.testing.assert_array_equal(first, (np.arange(256) / 255.0).astype(np.float32))
    assert first[0] == 0.0 and first[255] == 1.0 and first[51] == np.float32(0.2)
    assert ds.x.min() >= 0.0 and ds.x.max() <= 1.0


def test_gzip_train_split_and_all_and_limit(mnist_dir: Path) -> None:
    train = load_dataset("mnist", data_dir=mnist_dir, split="train")
    np.testing.assert_array_equal(train.x, expected_unit(make_images(5, seed=1)))
    np.testing.assert_array_equal(train.y, TRAIN_LABELS)
    assert train.source.endswith("train-labels-idx1-ubyte.gz")
    every = load_dataset("mnist", data_dir=mnist_dir, split="all")
    np.testing.assert_array_equal(every.y, [5, 0, 4, 1, 9, 7, 2, 1])
    np.testing.assert_array_equal(every.x[5:], load_dataset("mnist", data_dir=mnist_dir).x)
    assert len(load_dataset("mnist", data_dir=mnist_dir, split="train", limit=2)) == 2
    np.testing.assert_array_equal(load_dataset("mnist", data_dir=mnist_dir, split="all", limit=6).y, [5, 0, 4, 1, 9, 7])
    assert len(load_dataset("mnist", data_dir=mnist_dir, split="all", limit=0)) == 0
    assert len(load_dataset("mnist", data_dir=mnist_dir, split="test", limit=100)) == 3


def test_gzip_and_raw_files_load_identically(tmp_path: Path) -> None:
    images, labels = make_images(4, seed=7), np.array([3, 3, 0, 9], dtype=np.uint8)
    for gz in (False, True):
        folder = tmp_path / f"gz{gz}"
        folder.mkdir()
        write_idx(folder / "t10k-images-idx3-ubyte", images, gz=gz)
        write_idx(folder / "t10k-labels-idx1-ubyte", labels, gz=gz)
    raw = load_dataset("mnist", data_dir=tmp_path / "gzFalse")
    packed = load_dataset("mnist", data_dir=tmp_path / "gzTrue")
    np.testing.assert_array_equal(raw.x, packed.x)
    np.testing.assert_array_equal(raw.y, packed.y)


def test_dotted_file_names_and_fashion_mnist(tmp_path: Path) -> None:
    write_idx(tmp_path / "t10k-images.idx3-ubyte", make_images(2, seed=3), gz=True)
    write_idx(tmp_path / "t10k-labels.idx1-ubyte", np.array([9, 0], dtype=np.uint8))
    ds = load_dataset("Fashion_MNIST", data_dir=tmp_path)
    assert ds.name == "fashion-mnist"
    assert [ds.class_names[i] for i in ds.y] == ["Ankle boot", "T-shirt/top"]


def test_read_idx_any_rank(tmp_path: Path) -> None:
    table = np.arange(12, dtype=np.uint8).reshape(3, 4)
    np.testing.assert_array_equal(read_idx(write_idx(tmp_path / "t", table, gz=True)), table)


# --------------------------------------------------------------------------------------------- bad files

def error_of(call, *args, **kwargs) -> DatasetError:  # type: ignore[no-untyped-def]
    with pytest.raises(DatasetError) as info:
        call(*args, **kwargs)
    assert isinstance(info.value, SnncError)
    return info.value


def test_truncated_raw_file_names_file_and_sizes(mnist_dir: Path) -> None:
    path = mnist_dir / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-10])
    err = error_of(load_dataset, "mnist", data_dir=mnist_dir)
    assert err.where == str(path)
    assert err.message == "file is truncated: expected 2368 bytes for shape (3, 28, 28), got 2358"


def test_file_longer_than_header(mnist_dir: Path) -> None:
    path = mnist_dir / "t10k-labels-idx1-ubyte"
    path.write_bytes(path.read_bytes() + b"\x00")
    err = error_of(load_dataset, "mnist", data_dir=mnist_dir)
    assert err.message == "file is longer than its header says: expected 11 bytes for shape (3,), got 12"


def test_truncated_gzip_file(mnist_dir: Path) -> None:
    path = mnist_dir / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:200])
    err = error_of(load_dataset, "mnist", data_dir=mnist_dir, split="train")
    assert err.where == str(path)
    assert err.message.startswith("corrupt gzip data: ")


def test_bad_magic_and_type_code_and_rank(tmp_path: Path) -> None:
    bad_magic = write_idx(tmp_path / "magic", np.zeros(3, np.uint8), magic=b"\x12\x34")
    assert error_of(read_idx, bad_magic).message == "not an IDX file: bad magic number 12340801"
    float_code = write_idx(tmp_path / "float", np.zeros(3, np.uint8), type_code=0x0D)
    assert error_of(read_idx, float_code).message == "unsupported IDX data type 0x0d, expected 0x08 (unsigned byte)"
    labels = write_idx(tmp_path / "labels", np.zeros((2, 2), np.uint8))
    assert error_of(read_idx, labels, ndim=1).message == "IDX file has 2 dimensions, expected 1"
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert error_of(read_idx, empty).message == "not an IDX file: bad magic number (empty)"


def test_label_out_of_range_names_index_and_value(mnist_dir: Path) -> None:
    write_idx(mnist_dir / "t10k-labels-idx1-ubyte", np.array([1, 2, 10], dtype=np.uint8))
    err = error_of(load_dataset, "mnist", data_dir=mnist_dir)
    assert err.message == "label 10 at index 2 is out of range 0..9"
    assert err.where == str(mnist_dir / "t10k-labels-idx1-ubyte")


def test_label_count_mismatch(mnist_dir: Path) -> None:
    write_idx(mnist_dir / "t10k-labels-idx1-ubyte", np.array([1, 2, 3, 4], dtype=np.uint8))
    err = error_of(load_dataset, "mnist", data_dir=mnist_dir)
    assert err.message == "4 labels for 3 images"


def test_images_must_be_28x28(tmp_path: Path) -> None:
    write_idx(tmp_path / "t10k-images-idx3-ubyte", np.zeros((2, 4, 4), np.uint8))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(2, np.uint8))
    assert error_of(load_dataset, "mnist", data_dir=tmp_path).message == "mnist images must be 28x28, got 4x4"


def test_missing_data_dir_and_files(tmp_path: Path) -> None:
    err = error_of(load_dataset, "mnist")
    assert err.message == "dataset 'mnist' needs a data folder, none was given"
    assert "--data-dir DIR" in str(err) and "t10k-images-idx3-ubyte" in str(err) and "shared" not in str(err)
    err = error_of(load_dataset, "mnist", data_dir=tmp_path / "nowhere")
    assert (err.message, err.where) == ("mnist data folder does not exist", str(tmp_path / "nowhere"))
    assert "--data-dir DIR" in (err.hint or "")
    write_idx(tmp_path / "t10k-images-idx3-ubyte", make_images(1, seed=0))
    err = error_of(load_dataset, "mnist", data_dir=tmp_path)
    assert err.message == "mnist file t10k-labels-idx1-ubyte (or t10k-labels-idx1-ubyte.gz) not found"


@pytest.mark.skipif(Path(FASHION_MNIST_DEFAULT_DIR).exists(), reason="Fashion-MNIST is installed here")
def test_fashion_mnist_default_dir_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The machine may or may not have Debian's dataset-fashion-mnist: point the default at a missing folder.
    import snnc.datasets

    missing = str(tmp_path / "no-fashion-mnist")
    monkeypatch.setattr(snnc.datasets, "FASHION_MNIST_DEFAULT_DIR", missing)
    err = error_of(load_dataset, "fashion-mnist")
    assert err.where == missing
    assert "dataset-fashion-mnist" in (err.hint or "") and "--data-dir" in (err.hint or "")


def test_bad_name_split_limit(mnist_dir: Path) -> None:
    assert error_of(load_dataset, "cifar10").message == "unknown dataset 'cifar10'; known datasets: " \
        "mnist, fashion-mnist, digits"
    assert set(available_datasets()) == {"mnist", "fashion-mnist", "digits"}
    assert error_of(load_dataset, "mnist", mnist_dir, split="val").message == \
        "unknown split 'val'; expected one of: train, test, all"
    for limit in (-1, 1.5, True):
        assert error_of(load_dataset, "mnist", mnist_dir, limit=limit).message.startswith("limit must be")


# --------------------------------------------------------------------------------------------- digits

def test_digits_splits_are_disjoint_cover_and_scaled() -> None:
    every = load_dataset("digits", split="all")
    train, test = load_dataset("digits", split="train"), load_dataset("digits", split="test")
    assert (len(every), len(train), len(test)) == (1797, 1347, 450)
    assert every.features == (8, 8) and every.x.dtype == np.float32 and every.num_classes == 10
    assert every.x.min() == 0.0 and every.x.max() == 1.0
    np.testing.assert_array_equal(every.x * 16, np.round(every.x * 16))  # v / 16 with v in 0..16, exact
    tr, te = digits_split_indices(every.y)
    assert np.intersect1d(tr, te).size == 0
    np.testing.assert_array_equal(np.union1d(tr, te), np.arange(1797))
    np.testing.assert_array_equal(train.x, every.x[tr])
    np.testing.assert_array_equal(test.y, every.y[te])
    counts = np.bincount(test.y, minlength=10)  # every class close to a quarter
    assert np.all(np.abs(counts - np.bincount(every.y) / 4) <= 0.5)
    np.testing.assert_array_equal(load_dataset("digits", split="test").x, test.x)  # deterministic
    assert len(load_dataset("digits", split="train", limit=10)) == 10


def test_digits_takes_no_data_dir(tmp_path: Path) -> None:
    assert "takes no data folder" in error_of(load_dataset, "digits", data_dir=tmp_path).message


# --------------------------------------------------------------------------------------------- reshape, batches

def test_reshaped_fits_model_shapes(mnist_dir: Path) -> None:
    ds = load_dataset("mnist", data_dir=mnist_dir)
    flat = ds.reshaped((784,))
    assert flat.x.shape == (3, 784) and flat.features == (784,) and ds.x.shape == (3, 28, 28)
    np.testing.assert_array_equal(flat.x[1, 28:56], ds.x[1, 1])
    assert ds.reshaped([1, 28, 28]).x.shape == (3, 1, 28, 28)
    np.testing.assert_array_equal(flat.y, ds.y)
    err = error_of(ds.reshaped, (1, 32, 32))
    assert err.message == "samples of shape (28, 28) have 784 values but the model expects (1, 32, 32) = 1024"
    assert error_of(ds.reshaped, (-1, 784)).message == "feature shape (-1, 784) has a non-positive size"


def test_iter_batches_covers_in_order(mnist_dir: Path) -> None:
    ds = load_dataset("mnist", data_dir=mnist_dir, split="all")
    batches = list(iter_batches(ds, 3))
    assert [len(y) for _, y in batches] == [3, 3, 2]
    np.testing.assert_array_equal(np.concatenate([x for x, _ in batches]), ds.x)
    np.testing.assert_array_equal(np.concatenate([y for _, y in batches]), ds.y)
    assert error_of(lambda: list(iter_batches(ds, 0))).message == "batch size must be a positive integer, got 0"


def test_dataset_checks_its_arrays() -> None:
    x, y = np.zeros((2, 4), np.float32), np.zeros(2, np.int64)
    assert len(Dataset("t", "test", x, y, 2, (4,), "mem")) == 2
    with pytest.raises(DatasetError, match="features"):
        Dataset("t", "test", x, y, 2, (2, 2), "mem")
    with pytest.raises(DatasetError, match="float32"):
        Dataset("t", "test", x.astype(np.float64), y, 2, (4,), "mem")
    with pytest.raises(DatasetError, match="samples"):
        Dataset("t", "test", x, y[:1], 2, (4,), "mem")


# --------------------------------------------------------------------------------------------- real MNIST

@pytest.mark.skipif(not REAL_MNIST.is_dir(), reason="shared MNIST files not present")
def test_real_mnist_test_set() -> None:
    ds = load_dataset("mnist", data_dir=REAL_MNIST, split="test")
    assert ds.x.shape == (10000, 28, 28) and ds.x.min() == 0.0 and ds.x.max() == 1.0
    np.testing.assert_array_equal(ds.y[:10], [7, 2, 1, 0, 4, 1, 4, 9, 5, 9])
    np.testing.assert_array_equal(np.bincount(ds.y), [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009])
