"""Safe loading, validation and native cache of THINGS-EEG2 files."""

from __future__ import annotations

import os
import pickle
import warnings

import numpy as np
import pytest

from perceptogram.data.formats import eeg_cache
from perceptogram.data.formats.safe_pickle import safe_load_pickled_dict
from perceptogram.data.formats.things_eeg2 import (
    CACHE_DIRNAME,
    THINGS_CHANNELS,
    load_image_metadata,
    load_split,
    load_subject,
    read_eeg_file,
)
from perceptogram.errors import ChannelMismatchError, DataFormatError, UnsafePickleError

TIMES = np.arange(-20, 80) / 100.0
N_TRAIN, N_TEST = 6, 3


def write_split(path, data, ch_names=THINGS_CHANNELS, times=TIMES, **extra):
    """Write an EEG file exactly as the release does: np.save of a dict."""
    path.parent.mkdir(parents=True, exist_ok=True)
    content = {"preprocessed_eeg_data": data, "ch_names": list(ch_names), "times": times}
    content.update(extra)
    np.save(path, content, allow_pickle=True)
    return path


def write_metadata(root, n_train=N_TRAIN, n_test=N_TEST):
    train_concepts = [f"{i // 2 + 1:05d}_concept{i // 2}" for i in range(n_train)]
    test_concepts = [f"{i + 1:05d}_probe{i}" for i in range(n_test)]
    content = {
        "train_img_files": [f"concept{i // 2}_{i % 2:02d}b.jpg" for i in range(n_train)],
        "train_img_concepts": train_concepts,
        "train_img_concepts_THINGS": train_concepts,
        "test_img_files": np.array([f"probe{i}_01s.jpg" for i in range(n_test)]),
        "test_img_concepts": np.array(test_concepts),
        "test_img_concepts_THINGS": np.array(test_concepts),
    }
    np.save(root / "image_metadata.npy", content, allow_pickle=True)
    return content


def make_dataset(root, seed=0, n_channels=17):
    rng = np.random.default_rng(seed)
    train = rng.standard_normal((N_TRAIN, 4, n_channels, 100))
    test = rng.standard_normal((N_TEST, 80, n_channels, 100))
    write_split(root / "sub-01" / "preprocessed_eeg_training.npy", train)
    write_split(root / "sub-01" / "preprocessed_eeg_test.npy", test)
    metadata = write_metadata(root)
    return train, test, metadata


class _Touch:
    """Unpickling this runs os.system: the classic malicious pickle."""

    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (os.system, (f"touch {self.target}",))


def _npy_with_pickle(path, obj, protocol=4):
    """An object-dtype NPY header followed by an arbitrary pickle."""
    with open(path, "wb") as fh:
        np.lib.format.write_array_header_1_0(
            fh, {"descr": "|O", "fortran_order": False, "shape": ()})
        pickle.dump(obj, fh, protocol=protocol)


# --------------------------------------------------------------------------- safe loader


def test_safe_loader_matches_numpy_pickle_load(tmp_path):
    rng = np.random.default_rng(1)
    data = rng.standard_normal((3, 2, 17, 5))
    path = write_split(tmp_path / "x.npy", data, times=TIMES[:5], scalar=np.float64(2.5),
                       labels=np.array(["a", "bc"]), ints=np.arange(4, dtype=np.int16))
    ours = safe_load_pickled_dict(path)
    reference = np.load(path, allow_pickle=True).item()
    assert ours.keys() == reference.keys()
    for key, value in reference.items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(ours[key], value)
            assert ours[key].dtype == value.dtype
        else:
            assert ours[key] == value


@pytest.mark.parametrize("protocol", [3, 4, 5])
def test_safe_loader_reads_every_numpy_pickle_protocol(tmp_path, protocol):
    content = {"a": np.arange(6.0).reshape(2, 3), "names": ["Pz", "Oz"]}
    path = tmp_path / "x.npy"
    _npy_with_pickle(path, np.array(content, dtype=object).reshape(()), protocol)
    out = safe_load_pickled_dict(path)
    np.testing.assert_array_equal(out["a"], content["a"])
    assert out["names"] == ["Pz", "Oz"]


def test_safe_loader_reads_numpy1_module_names_without_warning(tmp_path):
    # Files written by NumPy 1.x (the release) name numpy.core.multiarray.
    content = np.array({"a": np.arange(3.0)}, dtype=object).reshape(())
    raw = pickle.dumps(content, protocol=3)
    assert b"numpy._core.multiarray" in raw
    raw = raw.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    path = tmp_path / "legacy.npy"
    with open(path, "wb") as fh:
        np.lib.format.write_array_header_1_0(
            fh, {"descr": "|O", "fortran_order": False, "shape": ()})
        fh.write(raw)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = safe_load_pickled_dict(path)
    np.testing.assert_array_equal(out["a"], [0.0, 1.0, 2.0])


def test_malicious_pickle_is_refused_and_runs_nothing(tmp_path):
    target = tmp_path / "pwned"
    path = tmp_path / "preprocessed_eeg_training.npy"
    _npy_with_pickle(path, {"preprocessed_eeg_data": _Touch(target)})
    with pytest.raises(UnsafePickleError, match=r"forbidden global '(posix|nt)\.system'"):
        safe_load_pickled_dict(path)
    assert not target.exists()
    # The payload is real: numpy's own loader runs it.
    np.load(path, allow_pickle=True)
    assert target.exists()


def test_forbidden_global_inside_allowed_structure(tmp_path):
    path = tmp_path / "x.npy"
    _npy_with_pickle(path, np.array({"f": print}, dtype=object).reshape(()))
    with pytest.raises(UnsafePickleError, match="builtins.print"):
        safe_load_pickled_dict(path)


def test_truncated_file_is_reported(tmp_path):
    path = write_split(tmp_path / "x.npy", np.zeros((2, 2, 17, 100)))
    raw = path.read_bytes()
    for cut in (len(raw) // 2, 100, 4):
        path.write_bytes(raw[:cut])
        with pytest.raises(DataFormatError, match="truncated or corrupt"):
            safe_load_pickled_dict(path)


def test_plain_array_and_non_dict_are_reported(tmp_path):
    np.save(tmp_path / "plain.npy", np.zeros(3))
    with pytest.raises(DataFormatError, match="plain float64 array"):
        safe_load_pickled_dict(tmp_path / "plain.npy")
    np.save(tmp_path / "list.npy", np.array(["a", 1], dtype=object))
    with pytest.raises(DataFormatError, match="does not hold a dictionary"):
        safe_load_pickled_dict(tmp_path / "list.npy")
    (tmp_path / "text.npy").write_text("hello, not numpy")
    with pytest.raises(DataFormatError, match="neither a NumPy .npy file nor a pickle"):
        safe_load_pickled_dict(tmp_path / "text.npy")


# --------------------------------------------------------------------------- validation


def test_missing_keys_are_named(tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, {"preprocessed_eeg_data": np.zeros((1, 1, 17, 100))}, allow_pickle=True)
    with pytest.raises(DataFormatError, match="'ch_names', 'times'"):
        read_eeg_file(path)


def test_non_finite_values_are_counted_and_located(tmp_path):
    data = np.zeros((5, 2, 17, 100))
    data[3, 1, 4, 20] = np.nan
    data[3, 0, 5, 21] = np.inf
    data[4, 0, 0, 0] = -np.inf
    path = write_split(tmp_path / "x.npy", data)
    with pytest.raises(DataFormatError) as info:
        read_eeg_file(path)
    message = str(info.value)
    assert "3 non-finite value(s)" in message
    assert "in 2 of 5 images" in message
    assert "image 3, repetition 0, channel O2, t = 0.010 s" in message


@pytest.mark.parametrize(("data", "ch_names", "times", "error", "match"), [
    (np.zeros((2, 17, 100)), THINGS_CHANNELS, TIMES, DataFormatError, "4-D array"),
    (np.zeros((2, 1, 17, 100), dtype=np.int64), THINGS_CHANNELS, TIMES, DataFormatError,
     "must hold floats"),
    (np.zeros((2, 1, 17, 100)), THINGS_CHANNELS[:16], TIMES, ChannelMismatchError,
     "16 channel names for 17 channels"),
    (np.zeros((2, 1, 17, 100)), THINGS_CHANNELS, TIMES[:99], ChannelMismatchError,
     "99 sample times for 100 samples"),
    (np.zeros((2, 1, 17, 100)), THINGS_CHANNELS, TIMES[::-1], DataFormatError,
     "strictly increasing"),
])
def test_inconsistent_files_are_rejected(tmp_path, data, ch_names, times, error, match):
    path = write_split(tmp_path / "x.npy", data, ch_names=ch_names, times=times)
    with pytest.raises(error, match=match):
        read_eeg_file(path)


def test_train_test_channel_mismatch(tmp_path):
    make_dataset(tmp_path)
    swapped = list(THINGS_CHANNELS)
    swapped[0], swapped[1] = swapped[1], swapped[0]
    write_split(tmp_path / "sub-01" / "preprocessed_eeg_test.npy",
                np.zeros((N_TEST, 80, 17, 100)), ch_names=swapped)
    with pytest.raises(ChannelMismatchError, match="differ from test channels"):
        load_subject(tmp_path, 1)


def test_metadata_row_count_must_match(tmp_path):
    make_dataset(tmp_path)
    write_metadata(tmp_path, n_train=N_TRAIN + 1)
    with pytest.raises(DataFormatError, match="6 images but .* lists 7 train images"):
        load_subject(tmp_path, 1, cache=False)


# --------------------------------------------------------------------------- load_subject


@pytest.mark.parametrize("cache", [True, False])
def test_load_subject_returns_release_content(tmp_path, cache):
    train_raw, test_raw, metadata = make_dataset(tmp_path)
    train, test = load_subject(tmp_path, 1, cache=cache)
    np.testing.assert_array_equal(train.data, train_raw.astype(np.float32))
    np.testing.assert_array_equal(test.data, test_raw.astype(np.float32))
    assert train.data.dtype == np.float32
    assert train.ch_names == THINGS_CHANNELS == test.ch_names
    np.testing.assert_array_equal(train.times, TIMES)
    assert train.image_files == tuple(metadata["train_img_files"])
    assert train.concepts == tuple(metadata["train_img_concepts"])
    assert test.image_files == tuple(metadata["test_img_files"])
    assert (tmp_path / CACHE_DIRNAME).exists() == cache


def test_cache_is_memory_mapped_and_never_reads_the_pickle_again(tmp_path, monkeypatch):
    make_dataset(tmp_path)
    sources = sorted((tmp_path / "sub-01").iterdir())
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in sources}
    load_subject(tmp_path, 1)

    def metadata_only(path):
        assert "preprocessed_eeg" not in os.path.basename(path), f"pickle read again: {path}"
        return safe_load_pickled_dict(path)

    monkeypatch.setattr("perceptogram.data.formats.things_eeg2.safe_load_pickled_dict", metadata_only)
    train, test = load_subject(tmp_path, 1)
    assert isinstance(train.data, np.memmap) and not train.data.flags.writeable
    assert isinstance(test.data, np.memmap)
    # The inputs were not touched.
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in sources} == before


def test_changed_source_invalidates_the_cache(tmp_path):
    make_dataset(tmp_path)
    first, _ = load_subject(tmp_path, 1)
    replacement = np.full((N_TRAIN, 4, 17, 100), 7.0)
    path = write_split(tmp_path / "sub-01" / "preprocessed_eeg_training.npy", replacement)
    os.utime(path, ns=(1, 1))  # even a changed content with an old mtime is noticed
    second, _ = load_subject(tmp_path, 1)
    np.testing.assert_array_equal(second.data, replacement.astype(np.float32))
    assert not np.array_equal(first.data, second.data)


def test_damaged_cache_is_rebuilt(tmp_path):
    train_raw, _, _ = make_dataset(tmp_path)
    load_subject(tmp_path, 1)
    cache_dir = tmp_path / CACHE_DIRNAME / "sub-01"
    array_path, sidecar = eeg_cache.cache_files(
        tmp_path / "sub-01" / "preprocessed_eeg_training.npy", cache_dir)
    array_path.write_bytes(b"garbage")
    train, _ = load_subject(tmp_path, 1)
    np.testing.assert_array_equal(train.data, train_raw.astype(np.float32))
    assert sidecar.is_file()


def test_unwritable_cache_falls_back_to_memory(tmp_path, monkeypatch):
    train_raw, _, _ = make_dataset(tmp_path)

    def refuse(*args, **kwargs):
        raise PermissionError("read-only file system")

    monkeypatch.setattr(eeg_cache, "store", refuse)
    with pytest.warns(UserWarning, match="cannot write the cache"):
        data, _, _ = load_split(tmp_path / "sub-01" / "preprocessed_eeg_training.npy")
    np.testing.assert_array_equal(data, train_raw.astype(np.float32))


def test_missing_files_say_how_to_get_them(tmp_path):
    with pytest.raises(FileNotFoundError, match="perceptogram data download"):
        load_subject(tmp_path, 3)
    make_dataset(tmp_path)
    (tmp_path / "image_metadata.npy").unlink()
    with pytest.raises(FileNotFoundError, match="image_metadata.npy not found"):
        load_subject(tmp_path, 1)


def test_image_metadata_paths(tmp_path):
    content = write_metadata(tmp_path)
    metadata = load_image_metadata(tmp_path)
    paths = metadata.image_paths("train")
    assert paths[3] == (tmp_path / "training_images" / content["train_img_concepts"][3]
                        / content["train_img_files"][3])
    assert metadata.image_paths("test")[0].parent.parent == tmp_path / "test_images"
    with pytest.raises(ValueError, match="'train' or 'test'"):
        metadata.image_paths("validation")


# --------------------------------------------------------------------------- data info


def _info(root):
    from perceptogram.data.formats.base import open_dataset, summarize

    return summarize(open_dataset("things-eeg2", root))


def test_data_info_reports_the_folder(tmp_path):
    make_dataset(tmp_path)
    concept_dir = tmp_path / "training_images" / "00001_concept0"
    concept_dir.mkdir(parents=True)
    (concept_dir / "concept0_00b.jpg").write_bytes(b"x" * 10)
    info = _info(tmp_path)
    assert [s["subject"] for s in info["subjects"]] == [1]
    splits = info["subjects"][0]["splits"]
    assert splits["train"]["shape"] == [N_TRAIN, 4, 17, 100]
    assert splits["test"]["shape"] == [N_TEST, 80, 17, 100]
    assert tuple(info["subjects"][0]["ch_names"]) == THINGS_CHANNELS
    assert info["subjects"][0]["times"][0] == pytest.approx(-0.2)
    assert (info["n_train_images"], info["n_test_images"]) == (N_TRAIN, N_TEST)
    assert (info["n_train_concepts"], info["n_test_concepts"]) == (N_TRAIN // 2, N_TEST)
    assert (info["n_train_image_files"], info["n_test_image_files"]) == (1, 0)


def test_data_info_refuses_unsafe_files(tmp_path):
    make_dataset(tmp_path)
    target = tmp_path / "pwned"
    _npy_with_pickle(tmp_path / "sub-01" / "preprocessed_eeg_test.npy", _Touch(target))
    with pytest.raises(UnsafePickleError):
        _info(tmp_path)
    assert not target.exists()


# --------------------------------------------------------------------------- full disk


class _FullDiskFile:
    """A file whose writes fail with ENOSPC after ``limit`` bytes (a full disk)."""

    def __init__(self, fh, limit):
        self._fh, self._left = fh, limit

    def write(self, data):
        n = memoryview(data).nbytes
        if n > self._left:
            import errno

            raise OSError(errno.ENOSPC, "No space left on device")
        self._left -= n
        return self._fh.write(data)

    def __getattr__(self, name):
        return getattr(self._fh, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._fh.close()


def _cache_names(cache_dir):
    return sorted(p.name for p in cache_dir.iterdir()) if cache_dir.exists() else []


def test_full_disk_during_cache_write_leaves_no_temporary(tmp_path, monkeypatch):
    train_raw, _, _ = make_dataset(tmp_path)
    source = tmp_path / "sub-01" / "preprocessed_eeg_training.npy"
    cache_dir = tmp_path / "cache"
    from perceptogram import _cache

    monkeypatch.setattr(_cache, "open",
                        lambda path, mode: _FullDiskFile(open(path, mode), 1000),
                        raising=False)
    with pytest.warns(UserWarning, match="cannot write the cache .*No space left"):
        data, _, _ = load_split(source, cache_dir=cache_dir)
    np.testing.assert_array_equal(data, train_raw.astype(np.float32))
    assert _cache_names(cache_dir) == [".perceptogram"]  # only the ownership marker


def test_cache_is_not_started_without_free_space(tmp_path, monkeypatch):
    import shutil

    make_dataset(tmp_path)
    source = tmp_path / "sub-01" / "preprocessed_eeg_training.npy"
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage._replace(free=10 << 20))
    with pytest.warns(UserWarning, match=r"needs 0\.\d MB but only 10\.5 MB are free"):
        load_split(source, cache_dir=tmp_path / "cache")
    assert _cache_names(tmp_path / "cache") == [".perceptogram"]


def test_stale_temporaries_of_a_killed_run_are_removed(tmp_path):
    import subprocess
    import sys

    from perceptogram._owned import _host, mark_owned, owned_kind

    make_dataset(tmp_path)
    cache_dir = mark_owned(tmp_path / CACHE_DIRNAME / "sub-01", "cache")
    dead = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True).stdout)
    stale = (cache_dir
             / f".preprocessed_eeg_training.float32.npy.tmp-{dead}-{_host()}-abcdefgh.npy")
    stale.write_bytes(b"half-written")
    load_subject(tmp_path, 1)
    assert not stale.exists()
    assert owned_kind(cache_dir) == "cache"
    other = tmp_path / "fresh-cache"
    load_split(tmp_path / "sub-01" / "preprocessed_eeg_test.npy", cache_dir=other)
    assert owned_kind(other) == "cache"


def test_legacy_cache_folder_without_marker_still_works(tmp_path):
    from perceptogram._owned import owned_kind

    train_raw, _, _ = make_dataset(tmp_path)
    cache_dir = tmp_path / CACHE_DIRNAME / "sub-01"
    cache_dir.mkdir(parents=True)
    (cache_dir / "notes.txt").write_text("from an older version")
    train, _ = load_subject(tmp_path, 1)
    np.testing.assert_array_equal(train.data, train_raw.astype(np.float32))
    assert owned_kind(cache_dir) is None
    assert (cache_dir / "notes.txt").read_text() == "from an older version"


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
@pytest.mark.parametrize("npy_header", [True, False])
def test_safe_loader_reads_npy_and_plain_pickles_like_pickle(tmp_path, protocol, npy_header):
    rng = np.random.default_rng(protocol)
    content = {
        "preprocessed_eeg_data": rng.standard_normal((3, 2, 4, 5)),
        "ch_names": ["Pz", "Oz", "O1", "O2"], "times": TIMES[:5],
        "labels": np.array(["a", "bc"]), "objects": np.array(["x", [1, 2]], dtype=object),
        "fortran": np.asfortranarray(rng.standard_normal((3, 2))),
        "fortran_objects": np.asfortranarray(np.array([["a", "b"], ["c", "d"]], dtype=object)),
        "big_endian": np.arange(3, dtype=">i4"), "bytes": np.array([b"ab", b"c"]),
        "empty": np.zeros((0, 3)), "scalar": np.float32(2.5), "zero_d": np.array(1.5),
        "nested": {"n": None, "t": (1, 2.0, "x"), "b": True, "i": 2**70},
    }
    path = tmp_path / "x.pkl"
    with open(path, "wb") as fh:
        if npy_header:
            np.lib.format.write_array_header_1_0(
                fh, {"descr": "|O", "fortran_order": False, "shape": ()})
            pickle.dump(np.array(content, dtype=object).reshape(()), fh, protocol=protocol)
        else:
            pickle.dump(content, fh, protocol=protocol)
    ours = safe_load_pickled_dict(path)
    # Compared with what was written (np.load of protocol 2 even loses '>i4' byte order).
    assert ours.keys() == content.keys()
    for key, value in content.items():
        if isinstance(value, np.ndarray):
            assert ours[key].dtype == value.dtype and ours[key].shape == value.shape
            assert ours[key].flags.writeable and ours[key].flags.aligned
            assert ours[key].flags.f_contiguous == value.flags.f_contiguous
            assert ours[key].tolist() == value.tolist()
        else:
            assert ours[key] == value and type(ours[key]) is type(value)
