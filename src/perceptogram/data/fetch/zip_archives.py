"""Unpack a downloaded zip archive safely: checked names, sizes and compression ratio.

Every member is checked before anything is written. Refused: absolute paths, ``..``
components and drive letters (path traversal), symbolic links and other special
files, encrypted members, duplicate names (also those equal up to case, and a file
whose name is another member's folder), members whose data overlap (the
"non-recursive zip bomb"), more members than a cap, a total unpacked size above a
cap, and a compression ratio above a cap (a zip bomb). The archive is unpacked
into a folder that must not exist yet, so that nothing a user owns is ever
overwritten.
"""

from __future__ import annotations

import os
import shutil
import stat
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from perceptogram._owned import MARKER
from perceptogram._progress import track
from perceptogram.errors import DataFormatError, PerceptogramError

__all__ = ["ZipLimits", "extract_zip", "safe_relative_parts"]

_CHUNK = 1 << 20
_SMALL_MEMBER = 1 << 20  # below this, a high ratio is harmless (a file of zeros)


@dataclass(frozen=True)
class ZipLimits:
    """Upper bounds of what an archive may unpack to.

    Parameters
    ----------
    max_bytes : int
        Total unpacked size (the THINGS-EEG2 image set unpacks to a few GB).
    max_ratio : float
        Unpacked size over archive size, for the whole archive and for each member
        above 1 MiB (images and EEG arrays compress by less than 2x; zip bombs by
        about 1000x).
    max_members : int
        Number of entries.
    """

    max_bytes: int = 64 << 30
    max_ratio: float = 100.0
    max_members: int = 200_000


def safe_relative_parts(name: str) -> tuple[str, ...] | None:
    """Components of a relative path, or None if it could leave its folder.

    Parameters
    ----------
    name : str
        A path from an archive or a listing (``/`` or ``\\`` separated).

    Returns
    -------
    parts : tuple of str or None
        Without empty and ``.`` components; None for an absolute path, a ``..``
        component or a drive letter.
    """
    name = name.replace("\\", "/")
    parts = PurePosixPath(name).parts
    if name.startswith("/") or ".." in parts or (parts and ":" in parts[0]) or "\x00" in name:
        return None
    return tuple(p for p in parts if p not in ("", "."))


def _refuse(archive: Path, why: str) -> DataFormatError:
    return DataFormatError(f"{archive} is unsafe: {why}; nothing was extracted")


def _checked_members(zf: zipfile.ZipFile, archive: Path, limits: ZipLimits
                     ) -> list[tuple[zipfile.ZipInfo, tuple[str, ...]]]:
    infos = zf.infolist()
    if len(infos) > limits.max_members:
        raise _refuse(archive, f"it has {len(infos)} entries, more than the "
                      f"{limits.max_members} allowed")
    members = []
    seen: dict[tuple[str, ...], str] = {}
    for info in infos:
        parts = safe_relative_parts(info.filename)
        if parts is None:
            raise _refuse(archive, f"member {info.filename!r} would be written outside the "
                          "target folder")
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise _refuse(archive, f"member {info.filename!r} is a symbolic link")
        if stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):
            raise _refuse(archive, f"member {info.filename!r} is a special file")
        if info.flag_bits & 0x1:
            raise _refuse(archive, f"member {info.filename!r} is encrypted")
        if MARKER in parts:
            raise _refuse(archive, f"member {info.filename!r} would forge a Perceptogram "
                          "ownership marker")
        if info.is_dir() or not parts or parts[0] == "__MACOSX":
            continue
        key = tuple(p.casefold() for p in parts)
        if key in seen:
            raise _refuse(archive, f"member {info.filename!r} appears twice (also as "
                          f"{seen[key]!r})")
        seen[key] = info.filename
        if info.file_size > _SMALL_MEMBER and (
                info.file_size > limits.max_ratio * max(info.compress_size, 1)):
            raise _refuse(archive, f"member {info.filename!r} unpacks to {info.file_size} "
                          f"bytes from {info.compress_size} (a zip bomb)")
        members.append((info, parts))
    folders = {key[:i] for key in seen for i in range(1, len(key))}
    clash = folders.intersection(seen)
    if clash:
        raise _refuse(archive, f"member {seen[min(clash)]!r} is both a file and a folder")
    _check_overlap(zf, archive)
    total = sum(info.file_size for info, _ in members)
    size = archive.stat().st_size
    if total > limits.max_bytes:
        raise _refuse(archive, f"it unpacks to {total} bytes, more than the "
                      f"{limits.max_bytes} allowed")
    if total > _SMALL_MEMBER and total > limits.max_ratio * max(size, 1):
        raise _refuse(archive, f"it unpacks to {total} bytes from {size} (a compression "
                      f"ratio above {limits.max_ratio:g}, a zip bomb)")
    return members


def _check_overlap(zf: zipfile.ZipFile, archive: Path) -> None:
    """Refuse members whose compressed data overlap (one stream unpacked many times)."""
    spans = sorted((info.header_offset, info.header_offset + info.compress_size, info.filename)
                   for info in zf.infolist())
    for (_, end, name), (start, _, other) in zip(spans, spans[1:]):
        if end > start:
            raise _refuse(archive, f"members {name!r} and {other!r} overlap (a zip bomb)")


def _copy_exactly(src, dst, size: int, archive: Path, name: str) -> None:
    remaining = size
    while remaining:
        chunk = src.read(min(_CHUNK, remaining))
        if not chunk:
            raise DataFormatError(f"{archive} is corrupt: member {name!r} is shorter than "
                                  "its declared size")
        dst.write(chunk)
        remaining -= len(chunk)
    if src.read(1):
        raise DataFormatError(f"{archive} is corrupt: member {name!r} is longer than its "
                              "declared size")


def extract_zip(archive: str | os.PathLike, target: str | os.PathLike, *,
                limits: ZipLimits = ZipLimits()) -> Path:
    """Unpack ``archive`` (``<stem>.zip``) into the new folder ``target``.

    Members that all sit under one top folder named ``<stem>`` are unpacked without
    that folder, so ``sub-01.zip`` holding ``sub-01/x.npy`` and one holding ``x.npy``
    both give ``target/x.npy``. macOS ``__MACOSX`` entries are skipped.

    Parameters
    ----------
    archive : path-like
    target : path-like
        Must not exist (nothing is ever overwritten); its parent must exist.
    limits : ZipLimits
        Caps on size, compression ratio and entries.

    Returns
    -------
    target : Path

    Raises
    ------
    DataFormatError
        The archive is unsafe (see the module docstring), corrupt or not a zip file;
        nothing is extracted when the checks fail.
    PerceptogramError
        ``target`` exists, or the disk has too little free space.
    """
    archive, target = Path(archive), Path(target)
    if target.exists() or target.is_symlink():
        raise PerceptogramError(f"{target} already exists; move it away to unpack {archive.name}")
    try:
        with zipfile.ZipFile(archive) as zf:
            members = _checked_members(zf, archive, limits)
            total = sum(info.file_size for info, _ in members)
            free = shutil.disk_usage(target.parent).free
            if total > free:
                raise PerceptogramError(
                    f"{archive.name} unpacks to {total / 1e9:.2f} GB but only "
                    f"{free / 1e9:.2f} GB are free under {target.parent}"
                )
            stem = archive.stem
            nested = bool(members) and all(p[0] == stem and len(p) > 1 for _, p in members)
            target.mkdir()
            for info, parts in track(members, f"Unpacking {archive.name}"):
                path = target.joinpath(*(parts[1:] if nested else parts))
                path.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(path, "xb") as dst:
                    _copy_exactly(src, dst, info.file_size, archive, info.filename)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as exc:
        raise DataFormatError(f"{archive} is not a valid zip file ({exc})") from None
    return target
