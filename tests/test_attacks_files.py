"""Hostile data files: every attack must end in one clean, one-sentence refusal.

Each attack is a small crafted file (an ``np.save``-style NPY file or a plain
pickle stream) aimed at the restricted loader
:func:`perceptogram.data.formats.safe_pickle.safe_load_pickled_dict`: forbidden globals,
NumPy reconstructors fed forged arguments (object arrays over raw bytes, forged
or structured dtypes), resource bombs (deep nesting, memo indices, huge declared
lengths, reference DAGs, zero-size items) and malformed streams.

The loader runs in a child process under a 2 GiB address-space limit
(``RLIMIT_AS``) and a timeout, so a regression (a segfault, an allocation of
gigabytes, a hang) shows up as a failed test rather than a dead test run. The
child reports each attack's outcome as one JSON line; if it dies, the attack it
was running is recorded as a crash and the child is restarted on the rest.
"""

from __future__ import annotations

import json
import os
import pickle
import struct
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from perceptogram.errors import DataFormatError, UnsafePickleError

MEMORY_LIMIT = 2 << 30
TIMEOUT_S = 120

PROTO = b"\x80\x04"
STOP = b"."
MARK, TUPLE, TUPLE1, TUPLE2, TUPLE3, EMPTY_TUPLE = b"(", b"t", b"\x85", b"\x86", b"\x87", b")"
REDUCE, BUILD, NONE, NEWTRUE, NEWFALSE = b"R", b"b", b"N", b"\x88", b"\x89"
EMPTY_LIST, EMPTY_DICT, APPEND, APPENDS, SETITEM = b"]", b"}", b"a", b"e", b"s"


def glob(module: str, name: str) -> bytes:
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def text(value: str) -> bytes:
    raw = value.encode()
    return b"X" + struct.pack("<I", len(raw)) + raw


def raw_bytes(value: bytes) -> bytes:
    return b"B" + struct.pack("<I", len(value)) + value


def integer(value: int) -> bytes:
    return b"J" + struct.pack("<i", value)


def put(index: int) -> bytes:
    return b"r" + struct.pack("<I", index)


def get(index: int) -> bytes:
    return b"j" + struct.pack("<I", index)


RECONSTRUCT = glob("numpy._core.multiarray", "_reconstruct")
NDARRAY = glob("numpy", "ndarray")
DTYPE = glob("numpy", "dtype")


def dtype_op(type_string: str, state: bytes | None = None) -> bytes:
    """``numpy.dtype(type_string, False, True)`` then BUILD with ``state``."""
    if state is None:
        flags = 63 if type_string.startswith("O") else 0
        order = "|" if type_string[0] in "ObSiu" and type_string[-1] in "18" else "<"
        state = (MARK + integer(3) + text(order) + NONE + NONE + NONE + integer(-1)
                 + integer(-1) + integer(flags) + TUPLE)
    return DTYPE + text(type_string) + NEWFALSE + NEWTRUE + TUPLE3 + REDUCE + state + BUILD


def array_op(shape: tuple[int, ...], dtype: bytes, data: bytes) -> bytes:
    """``_reconstruct(ndarray, (0,), b'b')`` then BUILD ``(1, shape, dtype, False, data)``."""
    shape_op = MARK + b"".join(integer(n) for n in shape) + TUPLE
    return (RECONSTRUCT + NDARRAY + integer(0) + TUPLE1 + raw_bytes(b"b") + TUPLE3 + REDUCE
            + MARK + integer(1) + shape_op + dtype + NEWFALSE + data + TUPLE + BUILD)


def in_dict(value_ops: bytes) -> bytes:
    return PROTO + EMPTY_DICT + text("preprocessed_eeg_data") + value_ops + SETITEM + STOP


def npy(stream: bytes) -> bytes:
    """The value ``stream`` builds, saved as ``np.save`` would: NPY header, 0-d object array."""
    import io

    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": "|O", "fortran_order": False, "shape": ()})
    if stream.startswith(PROTO) and stream.endswith(STOP):
        body = stream[len(PROTO):-len(STOP)]
        stream = PROTO + array_op((), dtype_op("O8"), EMPTY_LIST + body + APPEND) + STOP
    return buffer.getvalue() + stream


def _float_header() -> bytes:
    import io

    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": "<f8", "fortran_order": False, "shape": (2**40,)})
    return buffer.getvalue()


class _System:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def _nested_tuple(depth: int) -> bytes:
    return in_dict(EMPTY_TUPLE + TUPLE1 * depth)


def _reference_dag(levels: int) -> bytes:
    # t0 = ("x",); t(k+1) = (t_k, t_k): 2**levels leaves from a few hundred bytes.
    ops = text("x") + TUPLE1 + put(0)
    for level in range(levels):
        ops += get(level) + get(level) + TUPLE2 + put(level + 1)
    return in_dict(EMPTY_LIST + MARK + ops + APPENDS)


def _cycle() -> bytes:
    return in_dict(EMPTY_LIST + put(0) + get(0) + APPEND)


#: name -> content. Each must be refused with UnsafePickleError or DataFormatError. A
#: pickle stream is tried twice: as a plain pickle file and behind an NPY header.
ATTACKS: dict[str, bytes] = {
    # --- code execution
    "os.system via REDUCE, protocol 2": pickle.dumps({"x": _System()}, protocol=2),
    "os.system via REDUCE, protocol 5": pickle.dumps({"x": _System()}, protocol=5),
    "builtins.eval via STACK_GLOBAL": (PROTO + text("builtins") + text("eval") + b"\x93"
                                       + text("1+1") + TUPLE1 + REDUCE + STOP),
    "subprocess.Popen via GLOBAL": PROTO + glob("subprocess", "Popen") + STOP,
    "numpy.load via GLOBAL": PROTO + glob("numpy", "load") + STOP,
    "stride_tricks.as_strided (zero strides)": (
        PROTO + glob("numpy.lib.stride_tricks", "as_strided") + STOP),
    "INST opcode": PROTO + b"iposix\nsystem\n" + STOP,
    "OBJ opcode": PROTO + MARK + glob("posix", "system") + b"o" + STOP,
    "NEWOBJ opcode": PROTO + glob("numpy", "ndarray") + EMPTY_TUPLE + b"\x81" + STOP,
    "persistent id": PROTO + b"Pfoo\n" + STOP,
    "extension registry EXT1": PROTO + b"\x82\x01" + STOP,
    "bytearray(2**30) in a few bytes": (PROTO + glob("builtins", "bytearray")
                                        + integer(2**30) + TUPLE1 + REDUCE + STOP),
    "ndarray called directly": (PROTO + NDARRAY + MARK + integer(2**20) + TUPLE + TUPLE1
                                + REDUCE + STOP),
    "a global used as a value": in_dict(glob("numpy", "dtype")),
    # --- forged NumPy objects
    "object array over raw bytes": in_dict(array_op((4,), dtype_op("O8"), raw_bytes(
        struct.pack("<Q", 0x4141414141414141) * 4))),
    "object _frombuffer over raw bytes": in_dict(
        glob("numpy._core.numeric", "_frombuffer") + raw_bytes(b"A" * 32) + dtype_op("O8")
        + MARK + integer(4) + TUPLE + text("C") + TUPLE + REDUCE),
    "dtype forged to object via BUILD flags": in_dict(array_op((4,), dtype_op(
        "f8", MARK + integer(3) + text("<") + NONE + NONE + NONE + integer(8) + integer(8)
        + integer(63) + TUPLE), raw_bytes(b"A" * 32))),
    "overlapping object fields": in_dict(array_op((1,), dtype_op(
        "V16", MARK + integer(3) + text("|") + NONE + text("a") + text("b") + TUPLE2
        + EMPTY_DICT + text("a") + dtype_op("O8") + integer(0) + TUPLE2 + SETITEM
        + text("b") + dtype_op("O8") + integer(0) + TUPLE2 + SETITEM
        + integer(16) + integer(1) + integer(63) + TUPLE), raw_bytes(b"A" * 16))),
    "structured dtype state on a plain dtype": in_dict(array_op((1,), dtype_op(
        "f8", MARK + integer(3) + text("<") + NONE + text("a") + TUPLE1 + EMPTY_DICT
        + integer(-1) + integer(-1) + integer(0) + TUPLE), raw_bytes(b"A" * 8))),
    "dtype rebuilt twice (mutated after use)": in_dict(
        dtype_op("f8") + put(0) + get(0) + MARK + integer(3) + text("<") + NONE + NONE
        + NONE + integer(-1) + integer(-1) + integer(63) + TUPLE + BUILD),
    "BUILD (__setstate__) on a dict": in_dict(EMPTY_DICT + EMPTY_DICT + BUILD),
    "datetime dtype": in_dict(array_op((1,), dtype_op("M8"), raw_bytes(b"A" * 8))),
    "void dtype": in_dict(array_op((1,), dtype_op("V8"), raw_bytes(b"A" * 8))),
    "zero-size items, 2**47 of them": in_dict(array_op((2**23, 2**24), dtype_op(
        "S0", MARK + integer(3) + text("|") + NONE + NONE + NONE + integer(0) + integer(1)
        + integer(0) + TUPLE), raw_bytes(b""))),
    "declared shape far larger than the data": in_dict(array_op(
        (2**30, 2**10), dtype_op("f8"), raw_bytes(b"A" * 8))),
    "negative dimension": in_dict(array_op((-1,), dtype_op("f8"), raw_bytes(b""))),
    "object array of 10**8 items from a 1-item list": in_dict(array_op(
        (10**8,), dtype_op("O8"), EMPTY_LIST + text("a") + APPEND)),
    "object scalar": in_dict(glob("numpy._core.multiarray", "scalar") + dtype_op("O8")
                             + raw_bytes(b"A" * 8) + TUPLE2 + REDUCE),
    "scalar with the wrong byte count": in_dict(
        glob("numpy._core.multiarray", "scalar") + dtype_op("f8") + raw_bytes(b"A" * 4)
        + TUPLE2 + REDUCE),
    "_codecs.encode with another codec": in_dict(
        glob("_codecs", "encode") + text("x") + text("zlib") + TUPLE2 + REDUCE),
    "array used before its BUILD": in_dict(
        RECONSTRUCT + NDARRAY + integer(0) + TUPLE1 + raw_bytes(b"b") + TUPLE3 + REDUCE),
    # --- resource bombs
    "tuple nested 10**6 deep": _nested_tuple(10**6),
    "5-byte memo opcode with index 2**26": PROTO + NONE + put(2**26) + STOP,
    "memo read of a missing index": PROTO + get(12345) + STOP,
    "MARK nested 10**6 deep": PROTO + MARK * 10**6 + STOP,
    "BYTEARRAY8 of 2**30 bytes in 4 KB": (PROTO + b"\x96" + struct.pack("<Q", 2**30)
                                          + b"\0" * 4000 + STOP),
    "BINBYTES8 declaring 2**62 bytes": PROTO + b"\x8e" + struct.pack("<Q", 2**62) + STOP,
    "BINUNICODE8 declaring 2**40 bytes": PROTO + b"\x8d" + struct.pack("<Q", 2**40) + STOP,
    "LONG4 of 2**31 bytes": PROTO + b"\x8b" + struct.pack("<i", 2**31 - 1) + STOP,
    "shared-reference DAG expanding to 2**30": _reference_dag(30),
    "list containing itself": _cycle(),
    "list of 2 * 2**20 empty dicts (allocation budget)": in_dict(
        EMPTY_LIST + MARK + EMPTY_DICT * (2 << 20) + APPENDS),
    "NPY header declaring a 4 GB header": (b"\x93NUMPY\x02\x00" + struct.pack("<I", 2**32 - 1)
                                           + b"{" * 64),
    # --- malformed streams
    "protocol 0 text pickle": pickle.dumps({"a": 1}, protocol=0),
    "protocol 6": b"\x80\x06" + STOP,
    "no STOP": PROTO + EMPTY_DICT,
    "truncated NPY magic": b"\x93NUM",
    "invalid UTF-8 text": PROTO + b"X" + struct.pack("<I", 2) + b"\xff\xfe" + STOP,
    "unhashable dict key": PROTO + EMPTY_DICT + EMPTY_LIST + NONE + SETITEM + STOP,
    "APPEND on a dict": PROTO + EMPTY_DICT + NONE + APPEND + STOP,
    "REDUCE on an empty stack": PROTO + REDUCE + STOP,
    "NPY object header over a list": npy(pickle.dumps(
        np.array(["a", 1], dtype=object), protocol=3)),
    "NPY header declaring a 8 TB float array": _float_header(),
    "pickle of a list, not a dict": pickle.dumps(["a"], protocol=4),
    "GLOBAL name of 1 MB": PROTO + b"c" + b"a" * (1 << 20) + b"\n" + b"b\n" + STOP,
}

_CHILD = textwrap.dedent("""
    import json, resource, sys
    resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))
    from perceptogram.data.formats.safe_pickle import safe_load_pickled_dict
    for path in sys.argv[1:]:
        print("START " + path, flush=True)
        try:
            content = safe_load_pickled_dict(path)
            repr(content)  # what any later use does: read every value
            outcome = {{"error": None, "message": repr(sorted(content))[:200]}}
        except Exception as exc:
            outcome = {{"error": type(exc).__name__, "message": str(exc)}}
        print("RESULT " + json.dumps(outcome), flush=True)
""")


def run_isolated(paths: list[str]) -> dict[str, dict]:
    """Load each path in a memory-limited child; ``{path: outcome}``.

    ``outcome`` is ``{"error": class name or None, "message": str}``, or
    ``{"error": "CRASH", ...}`` when the child died (signal, memory, timeout)
    while loading that path.
    """
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join(sys.path))
    code = _CHILD.format(limit=MEMORY_LIMIT)
    outcomes: dict[str, dict] = {}
    remaining = list(paths)
    while remaining:
        try:
            proc = subprocess.run([sys.executable, "-c", code, *remaining], env=env,
                                  capture_output=True, text=True, timeout=TIMEOUT_S)
            stdout, returncode = proc.stdout, proc.returncode
        except subprocess.TimeoutExpired as exc:
            stdout = exc.stdout.decode() if isinstance(exc.stdout, bytes) else exc.stdout or ""
            returncode = "timeout"
        current = None
        for line in stdout.splitlines():
            if line.startswith("START "):
                current = line[len("START "):]
            elif line.startswith("RESULT ") and current is not None:
                outcomes[current] = json.loads(line[len("RESULT "):])
                current = None
        if current is not None:
            outcomes[current] = {"error": "CRASH",
                                 "message": f"child died with returncode {returncode}"}
        elif returncode != 0:
            pytest.fail(f"the loader child failed before any attack: {proc.stderr[-2000:]}")
        remaining = [p for p in remaining if p not in outcomes]
    return outcomes


@pytest.fixture(scope="module")
def attack_outcomes(tmp_path_factory):
    folder = tmp_path_factory.mktemp("attacks")
    paths = {}
    for name, content in ATTACK_FILES.items():
        path = folder / f"attack_{len(paths):03d}.npy"
        path.write_bytes(content)
        paths[name] = str(path)
    outcomes = run_isolated(list(paths.values()))
    return {name: outcomes[path] for name, path in paths.items()}, paths


ATTACK_FILES: dict[str, bytes] = {}
for _name, _content in ATTACKS.items():
    if _content.startswith(b"\x93NUMPY"):
        ATTACK_FILES[_name] = _content
    else:
        ATTACK_FILES[_name + " (pickle)"] = _content
        ATTACK_FILES[_name + " (npy)"] = npy(_content)


@pytest.mark.parametrize("name", list(ATTACK_FILES))
def test_attack_is_refused_cleanly(attack_outcomes, name):
    outcomes, paths = attack_outcomes
    outcome = outcomes[name]
    assert outcome["error"] in {"UnsafePickleError", "DataFormatError"}, outcome
    message = outcome["message"]
    assert message.startswith(paths[name]), message
    assert "\n" not in message and len(message) < 600, message
    assert "Internal error" not in message


def test_attack_count_is_reported(attack_outcomes):
    outcomes, _ = attack_outcomes
    refused = sum(o["error"] in {"UnsafePickleError", "DataFormatError"}
                  for o in outcomes.values())
    print(f"\nfile attacks tried: {len(outcomes)}, refused cleanly: {refused}")
    assert refused == len(outcomes) >= 100


def test_child_harness_detects_a_crash(tmp_path):
    # The harness itself must be able to fail: a file that kills the child.
    path = tmp_path / "x.npy"
    path.write_bytes(b"")
    code = "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.run([sys.executable, "-c", code], env=env, timeout=TIMEOUT_S)
    assert proc.returncode < 0


def test_memory_and_recursion_errors_become_a_clear_refusal(tmp_path, monkeypatch):
    from perceptogram.data.formats import safe_pickle

    path = tmp_path / "x.pkl"
    path.write_bytes(pickle.dumps({"a": [1, 2]}, protocol=4))
    for error in (MemoryError, RecursionError):
        def explode(*args, error=error):
            raise error()

        monkeypatch.setattr(safe_pickle, "_check_structure", explode)
        with pytest.raises(UnsafePickleError, match=f"exhausts the loader .{error.__name__}"):
            safe_pickle.safe_load_pickled_dict(path)


def test_refusal_names_the_opcode_or_global(tmp_path):
    from perceptogram.data.formats.safe_pickle import safe_load_pickled_dict

    path = tmp_path / "x.pkl"
    path.write_bytes(ATTACKS["OBJ opcode"])
    with pytest.raises(UnsafePickleError, match="forbidden global 'posix.system'"):
        safe_load_pickled_dict(path)
    path.write_bytes(PROTO + b"\x81" + STOP)
    with pytest.raises(UnsafePickleError, match="opcode NEWOBJ"):
        safe_load_pickled_dict(path)
    path.write_bytes(ATTACKS["5-byte memo opcode with index 2**26"])
    with pytest.raises(DataFormatError, match="memo entry 67108864"):
        safe_load_pickled_dict(path)


# --------------------------------------------------------------------------- paths and shapes
# Attacks through the *content* of well-formed files: names that become paths,
# folders that name one subject twice, shapes that a small file cannot back.

from perceptogram.data.formats import eeg_cache  # noqa: E402
from perceptogram.data.formats.layout import subject_folders  # noqa: E402
from perceptogram.data.formats.things_eeg2 import (  # noqa: E402
    load_image_metadata,
    load_subject,
    read_eeg_file,
    subject_dir,
)

CHANNELS = ("Pz", "Oz")


def _metadata(root, train_files, train_concepts, test_files=("t.jpg",),
              test_concepts=("00001_probe",)):
    np.save(root / "image_metadata.npy", {
        "train_img_files": list(train_files), "train_img_concepts": list(train_concepts),
        "test_img_files": np.array(test_files), "test_img_concepts": np.array(test_concepts),
    }, allow_pickle=True)


def _eeg(path, shape, times=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    times = np.arange(shape[3]) / 100.0 if times is None else times
    np.save(path, {"preprocessed_eeg_data": np.zeros(shape),
                   "ch_names": [f"C{i}" for i in range(shape[2])], "times": times},
            allow_pickle=True)
    return path


PATH_ATTACKS = {
    "parent traversal in a file name": (["../../../etc/passwd"], ["00001_a"]),
    "parent traversal in a concept": (["a.jpg"], [".."]),
    "absolute file name": (["/etc/passwd"], ["00001_a"]),
    "absolute concept": (["passwd"], ["/etc"]),
    "nested path in a file name": (["x/../../y.jpg"], ["00001_a"]),
    "NUL byte in a file name": (["a\0.jpg"], ["00001_a"]),
    "empty concept": (["a.jpg"], [""]),
    "backslash traversal": (["..\\..\\x.jpg"], ["00001_a"]),
}


@pytest.mark.parametrize("name", list(PATH_ATTACKS))
def test_metadata_paths_leaving_the_dataset_are_refused(tmp_path, name):
    files, concepts = PATH_ATTACKS[name]
    _metadata(tmp_path, files, concepts)
    with pytest.raises(DataFormatError, match="not a plain file or folder name") as info:
        load_image_metadata(tmp_path)
    message = str(info.value)
    assert repr(files[0])[:40] in message or repr(concepts[0]) in message
    assert "\0" not in message and "\n" not in message


def test_image_symlink_escaping_the_dataset_is_refused(tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    secret = tmp_path / "secret.jpg"
    secret.write_bytes(b"private")
    concept = root / "training_images" / "00001_a"
    concept.mkdir(parents=True)
    (concept / "ok.jpg").write_bytes(b"x")
    (concept / "evil.jpg").symlink_to(secret)
    _metadata(root, ["ok.jpg"], ["00001_a"])
    assert load_image_metadata(root).image_paths("train") == [concept / "ok.jpg"]
    _metadata(root, ["ok.jpg", "evil.jpg"], ["00001_a", "00001_a"])
    with pytest.raises(DataFormatError, match="evil.jpg.*leads outside"):
        load_image_metadata(root).image_paths("train")
    # A user's own link for the whole image folder is fine.
    elsewhere = tmp_path / "big_disk"
    (elsewhere / "00001_a").mkdir(parents=True)
    (elsewhere / "00001_a" / "ok.jpg").write_bytes(b"x")
    (root / "test_images").symlink_to(elsewhere, target_is_directory=True)
    _metadata(root, ["ok.jpg"], ["00001_a"], ["ok.jpg"], ["00001_a"])
    assert load_image_metadata(root).image_paths("test")[0].name == "ok.jpg"


def _info(root):
    """What `perceptogram data info` reads."""
    from perceptogram.data.formats.base import open_dataset, summarize

    return summarize(open_dataset("things-eeg2", root))


def test_two_folders_for_one_subject_are_refused(tmp_path):
    _eeg(tmp_path / "sub-01" / "preprocessed_eeg_training.npy", (2, 1, 2, 3))
    _eeg(tmp_path / "sub-001" / "preprocessed_eeg_training.npy", (2, 1, 2, 3))
    for call in (lambda: subject_folders(tmp_path), lambda: _info(tmp_path),
                 lambda: load_subject(tmp_path, 1), lambda: subject_dir(tmp_path, 1)):
        with pytest.raises(DataFormatError, match="sub-001 and sub-01 in .* are both "
                                                  "subject 1; keep one"):
            call()


def test_subject_folder_with_three_digits_is_found(tmp_path):
    _eeg(tmp_path / "sub-007" / "preprocessed_eeg_training.npy", (2, 1, 2, 3))
    assert subject_folders(tmp_path) == {7: tmp_path / "sub-007"}
    assert subject_dir(tmp_path, 7) == tmp_path / "sub-007"
    assert subject_dir(tmp_path, 8) == tmp_path / "sub-08"


@pytest.mark.parametrize(("shape", "axis"), [
    ((2, 1, 2, 1), "1 time samples"), ((2, 1, 2, 0), "0 time samples"),
    ((0, 1, 2, 3), "0 images"), ((2, 0, 2, 3), "0 repetitions"), ((2, 1, 0, 3), "0 channels"),
])
def test_degenerate_eeg_axes_get_a_specific_sentence(tmp_path, shape, axis):
    path = _eeg(tmp_path / "x.npy", shape)
    with pytest.raises(DataFormatError, match=f"has {axis} .shape"):
        read_eeg_file(path)


def test_data_info_refuses_what_run_refuses(tmp_path):
    # 3 EEG rows but 4 listed images: load_subject (run) refuses; data info too.
    _eeg(tmp_path / "sub-01" / "preprocessed_eeg_training.npy", (3, 1, 2, 3))
    _eeg(tmp_path / "sub-01" / "preprocessed_eeg_test.npy", (1, 1, 2, 3))
    _metadata(tmp_path, [f"{i}.jpg" for i in range(4)], ["00001_a"] * 4)
    with pytest.raises(DataFormatError, match="has 3 images but .* lists 4 train images"):
        load_subject(tmp_path, 1, cache=False)
    with pytest.raises(DataFormatError, match="has 3 images but .* lists 4 train images"):
        _info(tmp_path)


def test_small_file_cannot_make_a_large_cache(tmp_path):
    # The old loader let a 1,464-byte file declare a (16540, 4, 17, 100) array through
    # zero strides; the cache then wrote 272 MB. The cache checks sizes itself too.
    source = tmp_path / "sub-01" / "preprocessed_eeg_training.npy"
    source.parent.mkdir()
    source.write_bytes(b"x" * 1464)
    huge = np.broadcast_to(np.zeros(1), (16540, 4, 17, 100))
    cache_dir = tmp_path / "cache"
    with pytest.raises(DataFormatError, match="1464 bytes.*cannot hold the 112472000 values"):
        eeg_cache.store(source, cache_dir, huge, {})
    assert not cache_dir.exists() or not any(cache_dir.iterdir())


def test_arrays_never_share_a_payload(tmp_path):
    # One payload read back from the memo for a second array must not alias the first.
    from perceptogram.data.formats.safe_pickle import safe_load_pickled_dict

    data = raw_bytes(b"\x01" * 8) + put(0)
    stream = (PROTO + EMPTY_DICT + text("a") + array_op((1,), dtype_op("f8"), data)
              + SETITEM + text("b") + array_op((1,), dtype_op("f8"), get(0)) + SETITEM + STOP)
    path = tmp_path / "x.pkl"
    path.write_bytes(stream)
    content = safe_load_pickled_dict(path)
    content["a"][0] = 5.0
    assert content["b"][0] != 5.0 and not np.shares_memory(content["a"], content["b"])
    # Same-valued one-byte arrays and scalars (CPython shares their bytes) still load.
    path.write_bytes(pickle.dumps({"x": np.uint8(1), "y": np.uint8(1),
                                   "z": np.ones(1, np.uint8), "w": np.ones(1, np.uint8)}))
    content = safe_load_pickled_dict(path)
    assert content["x"] == content["y"] == 1 and content["z"][0] == content["w"][0] == 1
