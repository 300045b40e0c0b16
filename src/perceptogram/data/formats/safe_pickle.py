"""Read pickled dictionaries of arrays without running pickle code.

THINGS-EEG2 files are ``np.save`` of a Python dict (an NPY header declaring a
0-d ``object`` array, followed by a pickle of that array); other pipelines (NICE,
ATM) write the same kind of dict with plain ``pickle.dump``. ``np.load(...,
allow_pickle=True)`` or ``pickle.load`` would let such a file call any
importable function, and even NumPy's own reconstructors can be abused to build
arrays whose pointers come from the file.

This module is a small interpreter for the subset of the pickle protocol (2-5)
that those files use. It never calls anything named by the file: a global is
only a *token* among a fixed few (NumPy's array, dtype, scalar and buffer
reconstructors, ``_codecs.encode`` of protocol 2, ``OrderedDict``), and each
``REDUCE``/``BUILD`` on a token must have exactly the argument pattern that
NumPy's pickling emits. Arrays are rebuilt here, from a checked dtype string
and a byte payload read straight from the file into fresh aligned memory (or
from a list of Python objects for ``object`` arrays), so no stride, pointer or
dtype state from the file ever reaches NumPy. Sizes are bounded by the file:
payloads cannot claim more bytes than the file has left, the estimated memory
of everything built stays under ``ALLOCATION_FACTOR * file size + 64 MiB``,
nesting is at most :data:`MAX_DEPTH` deep, and the result, counted with shared
references expanded (as ``tolist`` or ``repr`` would), cannot exceed
:data:`MAX_EXPANSION` times the file size. Anything else raises
:class:`~perceptogram.errors.UnsafePickleError` naming the opcode or global.
"""

from __future__ import annotations

import collections
import os
import re
import struct
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from perceptogram._inputs import open_input
from perceptogram.errors import DataFormatError, UnsafePickleError

__all__ = ["safe_load_pickled_dict", "ALLOCATION_FACTOR", "MAX_DEPTH", "MAX_EXPANSION"]

_NPY_MAGIC = b"\x93NUMPY"
#: Memory the loader may build, as a multiple of the file size (plus 64 MiB).
ALLOCATION_FACTOR = 4
_ALLOCATION_SLACK = 64 << 20
#: Deepest nesting of containers accepted (a THINGS-EEG2 dict is 3 deep).
MAX_DEPTH = 32
#: Nodes of the result with shared references expanded, per byte of file (plus 10^5).
MAX_EXPANSION = 2
_EXPANSION_SLACK = 100_000
#: Bytes charged for each Python object built (a generous per-object overhead).
_OBJECT_COST = 64

# The globals a pickled NumPy dict names, mapped to the token that stands for them.
_GLOBALS = {
    ("numpy", "ndarray"): "ndarray",
    ("numpy", "dtype"): "dtype",
    ("numpy.core.multiarray", "_reconstruct"): "_reconstruct",
    ("numpy._core.multiarray", "_reconstruct"): "_reconstruct",
    ("numpy.core.multiarray", "scalar"): "scalar",
    ("numpy._core.multiarray", "scalar"): "scalar",
    ("numpy.core.numeric", "_frombuffer"): "_frombuffer",
    ("numpy._core.numeric", "_frombuffer"): "_frombuffer",
    ("_codecs", "encode"): "encode",
    ("collections", "OrderedDict"): "OrderedDict",
    ("__builtin__", "bytes"): "bytes",  # protocol 2 writes b"" as bytes()
    ("builtins", "bytes"): "bytes",
}
# Dtype strings NumPy writes for plain arrays: bool, integers, floats, complex,
# fixed-width bytes and unicode, and object (for lists of strings).
_DTYPE_STRING = re.compile(r"^(b1|[iu][1248]|f(2|4|8|16)|c(8|16|32)|[SU][1-9]\d{0,8}|O[48])$")


class _Global:
    """A global named by the file: a name only, never resolved to an object."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name


class _Pending:
    """Result of a REDUCE that a BUILD completes (a NumPy array or dtype)."""

    __slots__ = ("kind", "value", "type_string")

    def __init__(self, kind: str, type_string: str = "") -> None:
        self.kind = kind
        self.type_string = type_string
        self.value: Any = None


class _Payload:
    """Raw bytes from the file, held in fresh aligned memory (uint8 array)."""

    __slots__ = ("data", "used")

    def __init__(self, data: np.ndarray) -> None:
        self.data = data
        self.used = False


def _refuse(message: str) -> UnsafePickleError:
    return UnsafePickleError(message)


class _Interpreter:
    """Run the permitted opcodes of one pickle stream from ``fh``."""

    def __init__(self, fh: BinaryIO, end: int) -> None:
        self.fh = fh
        self.end = end
        size = max(1, end - fh.tell())
        self.budget = ALLOCATION_FACTOR * size + _ALLOCATION_SLACK
        self.max_nodes = MAX_EXPANSION * size + _EXPANSION_SLACK
        self.stack: list[Any] = []
        self.marks: list[int] = []
        self.memo: dict[int, Any] = {}
        self.n_ops = 0

    # ----------------------------------------------------------------- reading
    def read(self, n: int) -> bytes:
        data = self.fh.read(n)
        if len(data) != n:
            raise EOFError("the pickle stream ends early")
        return data

    def read_length(self, fmt: str, n_bytes: int, what: str) -> int:
        (length,) = struct.unpack(fmt, self.read(n_bytes))
        left = self.end - self.fh.tell()
        if length < 0 or length > left:
            raise EOFError(f"{what} declares {length} bytes but only {left} remain in "
                           "the file")
        return length

    def read_payload(self, length: int) -> _Payload:
        self.charge(length)
        data = np.empty(length, dtype=np.uint8)
        if self.fh.readinto(memoryview(data)) != length:
            raise EOFError("the pickle stream ends inside a byte string")
        return _Payload(data)

    def read_text(self, length: int) -> str:
        self.charge(length + _OBJECT_COST)
        return self.read(length).decode("utf-8", "surrogatepass")

    def charge(self, n_bytes: int) -> None:
        self.budget -= n_bytes
        if self.budget < 0:
            raise _refuse("the pickle builds far more data than the file's size justifies "
                          f"(over {ALLOCATION_FACTOR}x its size)")

    # ----------------------------------------------------------------- stack
    def pop_mark(self) -> list[Any]:
        if not self.marks:
            raise _refuse("the pickle closes a MARK it never opened")
        start = self.marks.pop()
        items = self.stack[start:]
        del self.stack[start:]
        return items

    def pop(self) -> Any:
        if len(self.stack) <= (self.marks[-1] if self.marks else 0):
            raise _refuse("the pickle pops from an empty stack")
        return self.stack.pop()

    def memo_put(self, index: int) -> None:
        if index > self.n_ops:
            raise _refuse(f"the pickle stores memo entry {index} after only {self.n_ops} "
                          "opcodes")
        if not self.stack:
            raise _refuse("the pickle memoizes from an empty stack")
        self.memo[index] = self.stack[-1]

    def memo_get(self, index: int) -> None:
        try:
            self.stack.append(self.memo[index])
        except KeyError:
            raise _refuse(f"the pickle reads memo entry {index}, which was never stored") \
                from None

    # ----------------------------------------------------------------- main loop
    def run(self) -> Any:
        ops = _OPS
        read = self.fh.read
        first = read(2)
        if len(first) != 2 or first[0] != 0x80:
            raise _refuse("the pickle does not start with a PROTO opcode (only protocols "
                          "2 to 5 are read)")
        if not 2 <= first[1] <= 5:
            raise _refuse(f"pickle protocol {first[1]} is not supported (2 to 5 are read)")
        while True:
            code = read(1)
            if not code:
                raise EOFError("the pickle stream ends without STOP")
            self.n_ops += 1
            handler = ops.get(code)
            if handler is None:
                raise _refuse(f"the pickle uses the opcode {_opcode_name(code)}, which a "
                              "data file has no reason to use")
            if handler(self) is _STOP:
                if len(self.stack) != 1 or self.marks:
                    raise _refuse("the pickle stops with an unbalanced stack")
                return _value(self.stack[0])

    # ----------------------------------------------------------------- calls
    def reduce(self) -> None:
        args = self.pop()
        func = self.pop()
        if not isinstance(func, _Global):
            raise _refuse("the pickle calls something that is not an allowed global (REDUCE)")
        if not isinstance(args, tuple):
            raise _refuse(f"REDUCE of '{func.name}' without an argument tuple")
        self.charge(_OBJECT_COST)
        self.stack.append(_REDUCERS[func.name](self, args))

    def build(self) -> None:
        state = self.pop()
        target = self.pop()
        if not isinstance(target, _Pending) or target.value is not None:
            raise _refuse("BUILD (__setstate__) is only accepted once on a NumPy array or "
                          "dtype being rebuilt")
        if target.kind == "dtype":
            target.value = _build_dtype(target.type_string, state)
        else:
            target.value = self.build_array(state)
        self.stack.append(target)

    def build_array(self, state: Any) -> np.ndarray:
        if not (isinstance(state, tuple) and len(state) == 5 and state[0] == 1):
            raise _refuse("BUILD of a NumPy array with a state that np.save never writes")
        _, shape, dtype, fortran, raw = state
        shape = _check_shape(shape)
        dtype = _complete(dtype)
        if not isinstance(dtype, np.dtype) or not isinstance(fortran, bool):
            raise _refuse("BUILD of a NumPy array without a dtype and order flag")
        order = "F" if fortran else "C"
        count = _count(shape)
        if dtype.hasobject:
            if not isinstance(raw, list) or len(raw) != count:
                raise _refuse(f"an object array of shape {shape} must be built from a list "
                              f"of {count} items")
            self.charge(8 * count + _OBJECT_COST)
            array = np.empty(count, dtype=object)
            for i, item in enumerate(raw):
                array[i] = _value(item)
            # NumPy lists object items in C order whatever the memory layout.
            array = array.reshape(shape)
            return np.asfortranarray(array) if fortran else array
        return _array_from_bytes(self, raw, dtype, shape, order)


_STOP = object()


def _opcode_name(code: bytes) -> str:
    import pickletools

    for op in pickletools.opcodes:
        if op.code.encode("latin-1") == code:
            return op.name
    return f"byte {code!r}"


def _count(shape: tuple[int, ...]) -> int:
    count = 1
    for n in shape:
        count *= n
    return count


def _check_shape(shape: Any) -> tuple[int, ...]:
    if (not isinstance(shape, tuple) or len(shape) > 32
            or not all(type(n) is int and 0 <= n < 2**48 for n in shape)):
        raise _refuse(f"an array shape must be a tuple of at most 32 non-negative ints, "
                      f"got {shape!r:.80}")
    return shape


def _complete(value: Any) -> Any:
    if isinstance(value, _Pending):
        if value.value is None:
            raise _refuse(f"a NumPy {value.kind} is used before it was built")
        return value.value
    return value


def _settle(value: Any) -> Any:
    """A built array or dtype in place of its pending token; anything else unchanged."""
    if isinstance(value, _Pending) and value.value is not None:
        return value.value
    return value


def _value(value: Any) -> Any:
    """The plain Python/NumPy value a stack item stands for, or a refusal."""
    if type(value) is str:
        return value
    if isinstance(value, _Global):
        raise _refuse(f"the global '{value.name}' is used as a value, which a data file "
                      "has no reason to do")
    if isinstance(value, _Payload):
        return value.data.tobytes()
    return _complete(value)


def _payload_bytes(interp: _Interpreter, raw: Any) -> np.ndarray:
    """uint8 array of a byte payload (fresh, aligned, writable, owned by one array).

    A payload read back from the memo for a second array is copied (and charged
    to the budget), so arrays never share memory.
    """
    if isinstance(raw, _Payload):
        if not raw.used:
            raw.used = True
            return raw.data
        interp.charge(raw.data.size)
        return raw.data.copy()
    if isinstance(raw, bytes):  # protocol 2: _codecs.encode result
        return np.frombuffer(raw, dtype=np.uint8).copy()
    raise _refuse(f"array data must be a byte string, got {type(raw).__name__}")


def _array_from_bytes(interp: _Interpreter, raw: Any, dtype: np.dtype,
                      shape: tuple[int, ...], order: str) -> np.ndarray:
    data = _payload_bytes(interp, raw)
    expected = _count(shape) * dtype.itemsize
    if data.size != expected:
        raise _refuse(f"an array of shape {shape} and dtype {dtype} needs {expected} bytes "
                      f"but the file gives {data.size}")
    return data.view(dtype).reshape(shape, order=order)


def _build_dtype(type_string: str, state: Any) -> np.dtype:
    # np.dtype.__reduce__ state: (3, byteorder, subarray, names, fields, elsize,
    # alignment, flags); version 4 adds metadata (None for plain dtypes).
    if not (isinstance(state, tuple) and len(state) in (8, 9) and state[0] in (3, 4)
            and state[1] in ("<", ">", "|", "=") and state[2:5] == (None, None, None)
            and (len(state) == 8 or state[8] is None)):
        raise _refuse(f"BUILD of dtype '{type_string}' with a state that is not a plain "
                      "dtype (structured and sub-array dtypes are refused)")
    byteorder, elsize, alignment, flags = state[1], state[5], state[6], state[7]
    dtype = np.dtype(type_string)
    if byteorder in "<>" and dtype.itemsize > 1 and type_string[0] not in "SO":
        dtype = dtype.newbyteorder(byteorder)
    expected_size = dtype.itemsize if type_string[0] in "SU" else -1
    if elsize != expected_size or type(alignment) is not int or flags != dtype.flags:
        raise _refuse(f"BUILD of dtype '{type_string}' declares size {elsize!r} and flags "
                      f"{flags!r}, which do not match that dtype (a forged dtype)")
    return dtype


def _reduce_reconstruct(interp: _Interpreter, args: tuple) -> _Pending:
    if (len(args) != 3 or not isinstance(args[0], _Global) or args[0].name != "ndarray"
            or args[1] != (0,) or _value(args[2]) != b"b"):
        raise _refuse("'_reconstruct' is called with arguments np.save never writes")
    return _Pending("array")


def _reduce_dtype(interp: _Interpreter, args: tuple) -> _Pending:
    if (len(args) != 3 or not isinstance(args[0], str) or args[1:] not in ((False, True),
                                                                          (0, 1))):
        raise _refuse("'numpy.dtype' is called with arguments np.save never writes")
    type_string = args[0]
    if not _DTYPE_STRING.match(type_string):
        raise _refuse(f"the dtype '{type_string:.40}' is not a plain numeric, string or "
                      "object dtype")
    return _Pending("dtype", type_string)


def _reduce_scalar(interp: _Interpreter, args: tuple) -> Any:
    if len(args) != 2:
        raise _refuse("'scalar' is called with arguments np.save never writes")
    dtype = _complete(args[0])
    if not isinstance(dtype, np.dtype) or dtype.hasobject:
        raise _refuse("a NumPy scalar must have a plain, non-object dtype")
    data = _payload_bytes(interp, args[1])
    if data.size != dtype.itemsize:
        raise _refuse(f"a NumPy {dtype} scalar needs {dtype.itemsize} bytes, "
                      f"the file gives {data.size}")
    return data.view(dtype)[0]


def _reduce_frombuffer(interp: _Interpreter, args: tuple) -> np.ndarray:
    if len(args) != 4 or args[3] not in ("C", "F"):
        raise _refuse("'_frombuffer' is called with arguments NumPy never writes")
    dtype = _complete(args[1])
    if not isinstance(dtype, np.dtype) or dtype.hasobject:
        raise _refuse("'_frombuffer' needs a plain, non-object dtype")
    return _array_from_bytes(interp, args[0], dtype, _check_shape(args[2]), args[3])


def _reduce_encode(interp: _Interpreter, args: tuple) -> bytes:
    if len(args) != 2 or not isinstance(args[0], str) or args[1] != "latin1":
        raise _refuse("'_codecs.encode' is only accepted as (text, 'latin1')")
    try:
        return args[0].encode("latin1")
    except UnicodeEncodeError:
        raise _refuse("'_codecs.encode' of text that is not latin-1") from None


def _reduce_ordered_dict(interp: _Interpreter, args: tuple) -> collections.OrderedDict:
    if args != ():
        raise _refuse("'OrderedDict' is only accepted without arguments")
    return collections.OrderedDict()


def _reduce_empty_bytes(interp: _Interpreter, args: tuple) -> bytes:
    if args != ():
        raise _refuse("'bytes' is only accepted without arguments (an empty byte string)")
    return b""


def _reduce_refused(name: str):
    def refuse(interp: _Interpreter, args: tuple) -> Any:
        raise _refuse(f"the pickle calls '{name}', which is only accepted as an argument")
    return refuse


_REDUCERS = {
    "_reconstruct": _reduce_reconstruct,
    "dtype": _reduce_dtype,
    "scalar": _reduce_scalar,
    "_frombuffer": _reduce_frombuffer,
    "encode": _reduce_encode,
    "OrderedDict": _reduce_ordered_dict,
    "bytes": _reduce_empty_bytes,
    "ndarray": _reduce_refused("numpy.ndarray"),
}


# ----------------------------------------------------------------- opcode handlers


def _global(interp: _Interpreter, module: str, name: str) -> None:
    token = _GLOBALS.get((module, name))
    if token is None:
        raise _refuse(f"the pickle asks for the forbidden global '{module}.{name}'"[:300]
                      + ", which a data file has no reason to use; nothing in it ran")
    interp.stack.append(_Global(token))


def _op_global(interp: _Interpreter) -> None:
    module = interp.fh.readline(256)
    name = interp.fh.readline(256)
    if not (module.endswith(b"\n") and name.endswith(b"\n")):
        raise _refuse("GLOBAL with a name longer than 255 bytes")
    _global(interp, module[:-1].decode("utf-8", "replace"),
            name[:-1].decode("utf-8", "replace"))


def _op_stack_global(interp: _Interpreter) -> None:
    name = _value(interp.pop())
    module = _value(interp.pop())
    if not (isinstance(module, str) and isinstance(name, str)):
        raise _refuse("STACK_GLOBAL without two strings")
    _global(interp, module, name)


def _push(interp: _Interpreter, value: Any, cost: int = _OBJECT_COST) -> None:
    interp.charge(cost)
    interp.stack.append(value)


def _op_tuple_n(n: int):
    def op(interp: _Interpreter) -> None:
        if n == 0:
            items = []
        else:
            base = interp.marks[-1] if interp.marks else 0
            if len(interp.stack) - base < n:
                raise _refuse(f"TUPLE{n} with fewer than {n} items on the stack")
            items = interp.stack[-n:]
            del interp.stack[-n:]
        _push(interp, tuple(map(_settle, items)), _OBJECT_COST + 8 * n)
    return op


def _op_tuple(interp: _Interpreter) -> None:
    items = interp.pop_mark()
    _push(interp, tuple(map(_settle, items)), _OBJECT_COST + 8 * len(items))


def _append_items(interp: _Interpreter, target: Any, items: list[Any]) -> None:
    if type(target) is not list:
        raise _refuse("APPEND(S) on something that is not a list")
    interp.charge(8 * len(items))
    target.extend(_value(item) for item in items)


def _op_append_fixed(interp: _Interpreter) -> None:
    item = interp.pop()
    if not interp.stack:
        raise _refuse("APPEND without a list")
    _append_items(interp, interp.stack[-1], [item])


def _op_appends(interp: _Interpreter) -> None:
    items = interp.pop_mark()
    if not interp.stack:
        raise _refuse("APPENDS without a list")
    _append_items(interp, interp.stack[-1], items)


def _set_items(interp: _Interpreter, items: list[Any]) -> None:
    if not interp.stack or not isinstance(interp.stack[-1], dict) or len(items) % 2:
        raise _refuse("SETITEM(S) on something that is not a dict, or with an odd count")
    target = interp.stack[-1]
    interp.charge(24 * (len(items) // 2))
    for i in range(0, len(items), 2):
        key = _value(items[i])
        if not isinstance(key, (str, int, float, bool, bytes)) and key is not None:
            raise _refuse(f"a dict key of type {type(key).__name__}")
        target[key] = _value(items[i + 1])


def _op_setitem(interp: _Interpreter) -> None:
    value = interp.pop()
    key = interp.pop()
    _set_items(interp, [key, value])


def _op_setitems(interp: _Interpreter) -> None:
    _set_items(interp, interp.pop_mark())


def _op_mark(interp: _Interpreter) -> None:
    if len(interp.marks) >= MAX_DEPTH * 4:
        raise _refuse(f"the pickle nests MARKs more than {MAX_DEPTH * 4} deep")
    interp.marks.append(len(interp.stack))


def _op_frame(interp: _Interpreter) -> None:
    interp.read(8)  # frames only group opcodes; the stream is read the same way


def _int_op(fmt: str, size: int):
    def op(interp: _Interpreter) -> None:
        _push(interp, struct.unpack(fmt, interp.read(size))[0], 32)
    return op


def _op_long1(interp: _Interpreter) -> None:
    (n,) = struct.unpack("<B", interp.read(1))
    _push(interp, int.from_bytes(interp.read(n), "little", signed=True), 32 + n)


def _op_binfloat(interp: _Interpreter) -> None:
    _push(interp, struct.unpack(">d", interp.read(8))[0], 32)


def _op_short_text(interp: _Interpreter) -> None:
    # At most 255 bytes: read() itself refuses a stream that ends early.
    interp.stack.append(interp.read_text(interp.read(1)[0]))


def _text_op(fmt: str, size: int, what: str):
    def op(interp: _Interpreter) -> None:
        interp.stack.append(interp.read_text(interp.read_length(fmt, size, what)))
    return op


def _bytes_op(fmt: str, size: int, what: str):
    def op(interp: _Interpreter) -> None:
        interp.stack.append(interp.read_payload(interp.read_length(fmt, size, what)))
    return op


def _memo_put_op(fmt: str, size: int):
    def op(interp: _Interpreter) -> None:
        interp.memo_put(struct.unpack(fmt, interp.read(size))[0])
    return op


def _memo_get_op(fmt: str, size: int):
    def op(interp: _Interpreter) -> None:
        interp.memo_get(struct.unpack(fmt, interp.read(size))[0])
    return op


def _op_memoize(interp: _Interpreter) -> None:
    interp.memo_put(len(interp.memo))


_OPS = {
    b"\x95": _op_frame,
    b"c": _op_global,
    b"\x93": _op_stack_global,
    b"R": _Interpreter.reduce,
    b"b": _Interpreter.build,
    b"(": _op_mark,
    b")": _op_tuple_n(0),
    b"\x85": _op_tuple_n(1),
    b"\x86": _op_tuple_n(2),
    b"\x87": _op_tuple_n(3),
    b"t": _op_tuple,
    b"]": lambda interp: _push(interp, []),
    b"}": lambda interp: _push(interp, {}),
    b"a": _op_append_fixed,
    b"e": _op_appends,
    b"s": _op_setitem,
    b"u": _op_setitems,
    b"N": lambda interp: interp.stack.append(None),
    b"\x88": lambda interp: interp.stack.append(True),
    b"\x89": lambda interp: interp.stack.append(False),
    b"J": _int_op("<i", 4),
    b"K": _int_op("<B", 1),
    b"M": _int_op("<H", 2),
    b"\x8a": _op_long1,
    b"G": _op_binfloat,
    b"\x8c": _op_short_text,
    b"X": _text_op("<I", 4, "BINUNICODE"),
    b"\x8d": _text_op("<Q", 8, "BINUNICODE8"),
    b"C": _bytes_op("<B", 1, "SHORT_BINBYTES"),
    b"B": _bytes_op("<I", 4, "BINBYTES"),
    b"\x8e": _bytes_op("<Q", 8, "BINBYTES8"),
    b"\x96": _bytes_op("<Q", 8, "BYTEARRAY8"),
    b"q": _memo_put_op("<B", 1),
    b"r": _memo_put_op("<I", 4),
    b"\x94": _op_memoize,
    b"h": _memo_get_op("<B", 1),
    b"j": _memo_get_op("<I", 4),
    b".": lambda interp: _STOP,
}


# ----------------------------------------------------------------- result checks


def _check_structure(root: Any, max_nodes: int) -> None:
    """Refuse cycles, nesting deeper than MAX_DEPTH and shared-reference blow-ups.

    Iterative post-order walk; ``expanded[id]`` is the node count of a subtree
    with shared references counted every time they occur.
    """
    expanded: dict[int, int] = {}
    on_path: set[int] = set()
    keep: list[Any] = []
    if not _is_container(root):
        return
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        children = _children(node)
        key = id(node)
        if done:
            on_path.discard(key)
            total = 1
            for child in children:
                total += expanded.get(id(child), 1)
            if total > max_nodes:
                raise _refuse(f"the pickle's shared references expand to more than "
                              f"{max_nodes} objects (a reference bomb)")
            expanded[key] = total
            continue
        if key in expanded:
            continue
        if key in on_path:
            raise _refuse("the pickle holds a container that contains itself (a cycle)")
        if len(on_path) >= MAX_DEPTH:
            raise _refuse(f"the pickle nests containers more than {MAX_DEPTH} deep")
        on_path.add(key)
        keep.append(node)
        stack.append((node, True))
        stack.extend((child, False) for child in children if _is_container(child))


_LEAF_TYPES = frozenset({str, int, float, bool, bytes, type(None)})


def _is_container(node: Any) -> bool:
    if type(node) in _LEAF_TYPES:
        return False
    if isinstance(node, (_Global, _Pending, _Payload)):
        raise _refuse("the pickle leaves a global, raw byte string or unfinished NumPy "
                      "object inside a tuple")
    return (type(node) in (list, tuple) or isinstance(node, dict)
            or (isinstance(node, np.ndarray) and node.dtype.hasobject))


def _children(node: Any) -> Any:
    """Items of a container accepted by :func:`_is_container`."""
    if type(node) in (list, tuple):
        return node
    if isinstance(node, dict):
        return list(node.values())
    return list(node.flat)


# ----------------------------------------------------------------- public API


def _load_stream(fh: BinaryIO, end: int, path: Path) -> Any:
    interp = _Interpreter(fh, end)
    try:
        result = interp.run()
        _check_structure(result, interp.max_nodes)
    except UnsafePickleError as exc:
        raise UnsafePickleError(f"{path} was refused: {exc}") from None
    except (MemoryError, RecursionError) as exc:
        raise UnsafePickleError(
            f"{path} was refused: rebuilding it exhausts the loader "
            f"({type(exc).__name__})") from None
    except (EOFError, struct.error, UnicodeDecodeError, ValueError, TypeError,
            IndexError, OverflowError) as exc:
        raise DataFormatError(
            f"{path} is truncated or corrupt: its pickled content cannot be read "
            f"({type(exc).__name__}: {exc})") from None
    return result


_MAX_NPY_HEADER = 1 << 16


def _read_npy_header(fh: BinaryIO, path: Path, end: int) -> tuple[tuple[int, ...], np.dtype]:
    # NumPy reads the declared header length before checking it: check it first.
    prefix = fh.read(len(_NPY_MAGIC) + 6)
    fh.seek(0)
    if len(prefix) < len(_NPY_MAGIC) + 4:
        raise DataFormatError(f"{path} is truncated or corrupt: its NPY header is cut short")
    major = prefix[len(_NPY_MAGIC)]
    length_field = prefix[len(_NPY_MAGIC) + 2:]
    length = (struct.unpack("<H", length_field[:2])[0] if major == 1
              else struct.unpack("<I", length_field.ljust(4, b"\0"))[0])
    if length > min(_MAX_NPY_HEADER, end):
        raise DataFormatError(f"{path} is truncated or corrupt: its NPY header declares "
                              f"{length} bytes")
    try:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
        else:
            shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
    except (ValueError, SyntaxError) as exc:
        raise DataFormatError(f"{path} is truncated or corrupt: its NPY header cannot be "
                              f"read ({exc})") from None
    return shape, dtype


def safe_load_pickled_dict(path: str | os.PathLike) -> dict:
    """Load a pickled dict of arrays, lists and strings without running pickle code.

    Reads both ``np.save(path, a_dict, allow_pickle=True)`` files (THINGS-EEG2;
    detected by the NPY magic string) and plain ``pickle.dump(a_dict, f)``
    streams of protocol 2 to 5 (NICE, ATM). For legitimate files the result
    equals ``np.load(path, allow_pickle=True).item()`` or ``pickle.load``.

    Parameters
    ----------
    path : path-like

    Returns
    -------
    content : dict
        Values are NumPy arrays (fresh, aligned, writable), NumPy scalars,
        lists, tuples, dicts, strings, numbers, booleans or None.

    Raises
    ------
    UnsafePickleError
        The file uses a global, opcode or argument pattern outside what such
        files contain, or would build more than its size justifies.
    DataFormatError
        The file is truncated or corrupt, is a plain numeric ``.npy`` array, or
        does not hold a dictionary.
    """
    path = Path(path)
    with open_input(path, "the pickled file") as fh:  # a regular file, not /proc or a FIFO
        end = os.fstat(fh.fileno()).st_size
        start = fh.read(len(_NPY_MAGIC))
        fh.seek(0)
        if start == _NPY_MAGIC:
            shape, dtype = _read_npy_header(fh, path, end)
            if not dtype.hasobject:
                raise DataFormatError(f"{path} holds a plain {dtype} array of shape "
                                      f"{shape}, not a pickled dictionary")
            array = _load_stream(fh, end, path)
            if not isinstance(array, np.ndarray) or array.shape != tuple(shape):
                raise DataFormatError(
                    f"{path} is corrupt: its header declares an object array of shape "
                    f"{shape} but the pickle holds {type(array).__name__}")
            content = array.item() if array.shape == () else None
            what = (type(content).__name__ if array.shape == ()
                    else f"an array of shape {array.shape}")
        elif start[:1] == b"\x80":
            content = _load_stream(fh, end, path)
            what = type(content).__name__
        elif len(start) < 2 or _NPY_MAGIC.startswith(start):
            raise DataFormatError(f"{path} is truncated or corrupt: it is only "
                                  f"{len(start)} bytes")
        else:
            raise DataFormatError(f"{path} is neither a NumPy .npy file nor a pickle "
                                  "(it starts with neither the NPY magic string nor a "
                                  "pickle PROTO opcode)")
    if not isinstance(content, dict):
        raise DataFormatError(f"{path} does not hold a dictionary (found {what})")
    return content
