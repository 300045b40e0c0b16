"""Run-directory bookkeeping: where each artifact lives and whether it is up to date.

A *unit* of work is one stage applied to one (subject, latent space) pair; either
may be ``None`` for stages that do not depend on it (the simulated dataset is one
unit for the whole run; stimulus latents are one unit per latent space). Each unit
writes its files into its own folder, ``<run>/<stage>[/sub-XX][/<space>]/``, and
the runner seals it with ``manifest.json``: the settings that produced it, the
digests of the upstream units it read, the package version, and the SHA-256 of
every file it wrote. A unit whose key (settings + inputs + version) is unchanged
and whose files still have those digests is skipped; a unit without a manifest
(never run, or interrupted) or with a changed file is recomputed.

The run directory is Perceptogram's own: it carries the ownership marker of
:mod:`perceptogram._owned` from the moment it is created (a non-empty folder
without it, or with a marker copied from elsewhere, is refused), a run holds an
exclusive lock on it for its whole duration (:meth:`RunDir.lock`), a run directory
holding a symbolic link is refused (Perceptogram never makes one, and a received
run could use one to make it write elsewhere), inputs may not lie inside it
(:func:`check_input_locations`), and every deletion inside it goes through
:func:`perceptogram._owned.remove_owned`.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from perceptogram import __version__
from perceptogram._hashing import file_digest, file_fingerprint
from perceptogram._inputs import read_input_json
from perceptogram._io import make_dirs, write_json_atomic
from perceptogram._owned import NotOwnedError, mark_owned, owned_kind, remove_owned
from perceptogram._paths import is_inside, is_plain_name
from perceptogram.config import settings_hash
from perceptogram.errors import PerceptogramError

__all__ = ["Unit", "RunDir", "RunLockedError", "check_output_location",
           "check_input_locations", "check_received_config", "subject_label"]

MANIFEST = "manifest.json"
#: Marker kind of a run directory (see :func:`perceptogram._owned.mark_owned`).
RUN_KIND = "run"
#: Lock file inside the run directory; holds the PID of the run that has the lock.
LOCK_FILE = ".lock"
#: Files above this size are checked by :func:`~perceptogram._hashing.file_fingerprint`
#: (size, mtime, first and last MiB) instead of a full SHA-256 on every run.
FULL_HASH_MAX_BYTES = 64 << 20
#: A manifest larger than this is not read (ours are a few kilobytes).
MAX_MANIFEST_BYTES = 16 << 20
# Temporary files and folders of atomic writes (``.NAME.tmp-XXXX``) and of the
# simulator's swap (``.NAME.old-XXXX``): left behind only by a killed process.
_STALE_TEMP = re.compile(r"\..+\.(?:tmp|old)-[A-Za-z0-9_]{6,}.*", re.DOTALL)


class RunLockedError(PerceptogramError):
    """Another process is running in the same run directory."""


def check_output_location(output: str | os.PathLike, dataset: str | os.PathLike | None = None,
                          *, dataset_is_simulated: bool = False) -> Path:
    """Refuse run-directory locations that would put a user's files at risk.

    Parameters
    ----------
    output : path-like
        The configured run directory.
    dataset : path-like or None
        The configured dataset folder (``dataset.path``), if any.
    dataset_is_simulated : bool
        A simulated dataset (Perceptogram's own) may lie inside the run directory.

    Returns
    -------
    resolved : Path
        ``output`` with symbolic links resolved.

    Raises
    ------
    PerceptogramError
        If ``output`` is empty, starts with ``~``, is the filesystem root, the
        home folder, the working directory, inside the dataset, or (for a real
        dataset) above it.
    """
    text = os.fspath(output)
    if not str(text).strip():
        raise PerceptogramError("the output folder is empty; give the path of a new folder")
    if str(text).startswith("~"):
        raise PerceptogramError(
            f"the output folder {text} starts with '~', which is not expanded here; "
            "write the full path"
        )
    resolved = Path(os.path.realpath(output))
    refused = {Path(resolved.anchor): "the filesystem root",
               Path.cwd().resolve(): "the working directory itself"}
    try:
        refused[Path.home().resolve()] = "your home folder"
    except (RuntimeError, KeyError):  # no HOME and no passwd entry (some containers)
        pass
    if resolved in refused:
        raise PerceptogramError(
            f"the output folder {output} is {refused[resolved]}; give a new folder for "
            "the run, e.g. ./perceptogram-run"
        )
    if dataset is not None:
        if is_inside(resolved, dataset, strict=False):
            raise PerceptogramError(
                f"the output folder {output} is inside the dataset {dataset}; put the run "
                "somewhere else (input files are never modified)"
            )
        if is_inside(dataset, resolved) and not dataset_is_simulated:
            raise PerceptogramError(
                f"the output folder {output} contains the dataset {dataset}; choose an "
                "output folder that does not hold the data"
            )
    return resolved


def check_input_locations(output: str | os.PathLike,
                          inputs: dict[str, str | os.PathLike | None], *,
                          simulated: str | os.PathLike | None = None) -> None:
    """Refuse inputs that lie inside the run directory, where a unit's folder is replaced.

    A run replaces a unit's folder whole when it recomputes it, so an input kept
    there (images in ``<run>/data``, a label table in ``<run>/report``) would be
    deleted. Inputs stay outside the run directory, wherever they are; only a
    simulated dataset (Perceptogram's own) may lie inside it, below ``<run>/data``.

    Parameters
    ----------
    output : path-like
    inputs : dict of str to path-like or None
        Configuration key (``"dataset.images_path"``) -> the path it gives.
    simulated : path-like or None
        The simulated dataset's folder, if the run simulates one.

    Raises
    ------
    PerceptogramError
        Naming the first input that lies inside ``output``.
    """
    for key, path in inputs.items():
        if path is not None and is_inside(path, output, strict=False):
            raise PerceptogramError(
                f"{key} ({path}) is inside the run directory {output}, where Perceptogram "
                "replaces whole folders; keep inputs outside the run directory")
    if (simulated is not None and is_inside(simulated, output, strict=False)
            and not is_inside(simulated, Path(output) / "data")):
        raise PerceptogramError(
            f"the simulated dataset {simulated} is inside the run directory {output} but not "
            f"below {Path(output) / 'data'}, where Perceptogram keeps it; move it there or "
            "outside the run directory")


def check_received_config(config: Any, run_dir: str | os.PathLike) -> None:
    """Refuse a run directory's own configuration that would write outside it.

    ``perceptogram report RUN`` reads ``RUN/config.yaml``, which came with the
    folder: it is data, never write access. A simulated dataset it names must lie
    inside ``RUN``.

    Raises
    ------
    PerceptogramError
    """
    path = config.dataset.path
    if config.dataset.kind == "simulated" and path is not None and not is_inside(
            path, run_dir, strict=False):
        raise PerceptogramError(
            f"{Path(run_dir) / 'config.yaml'} simulates its dataset in {path}, outside the run "
            f"directory; a run directory's configuration never makes Perceptogram write "
            "elsewhere: run it with `perceptogram run` if you mean it")


def subject_label(subject: int) -> str:
    """Folder name of a subject, THINGS-EEG2 style (``sub-01``)."""
    return f"sub-{subject:02d}"


@dataclass(frozen=True, order=True)
class Unit:
    """One stage applied to one (subject, latent space) pair.

    Parameters
    ----------
    stage : str
        Stage name, e.g. ``"fit"``.
    subject : int or None
        Subject number, or None when the stage does not depend on the subject.
    space : str or None
        Latent-space name, or None when the stage does not depend on it.
    """

    stage: str
    subject: int | None = None
    space: str | None = None

    @property
    def label(self) -> str:
        """Human-readable name, e.g. ``fit[sub-01/effnet]``."""
        parts = [subject_label(self.subject)] if self.subject is not None else []
        parts += [self.space] if self.space is not None else []
        return f"{self.stage}[{'/'.join(parts)}]" if parts else self.stage

    def reads(self, other: Unit) -> bool:
        """Whether this unit depends on ``other`` (of an upstream stage).

        A unit for subject *s* reads the upstream units of subject *s* and the
        subject-independent ones; a unit with ``subject=None`` reads all
        subjects (the same rule holds for latent spaces).
        """
        subject_ok = self.subject is None or other.subject in (None, self.subject)
        space_ok = self.space is None or other.space in (None, self.space)
        return subject_ok and space_ok


class RunDir:
    """A run directory and the manifests of the units inside it.

    Parameters
    ----------
    root : path-like
        The run directory (created on demand).
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    # -- ownership, lock, leftovers ---------------------------------------------------
    def claim(self) -> None:
        """Create the run directory, or check that an existing one is ours.

        Raises
        ------
        perceptogram._owned.NotOwnedError
            If the folder is not empty and carries no run marker (the message says
            to choose a new or empty folder).
        """
        mark_owned(self.root, RUN_KIND)
        kind = owned_kind(self.root)
        if kind != RUN_KIND:
            raise NotOwnedError(
                f"{self.root} is a Perceptogram {kind} folder, not a run directory; "
                "choose another output folder"
            )

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold an exclusive lock on the run directory (``fcntl.flock``) for the block.

        The lock file records the holder's PID. The lock goes with the process:
        a killed run never leaves a stale lock behind.

        Raises
        ------
        RunLockedError
            At once, naming the holder's PID, if another process holds the lock.
        """
        import fcntl

        path = self.root / LOCK_FILE
        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
        try:
            fd = os.open(path, flags, 0o644)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.EISDIR):
                raise NotOwnedError(f"{path} is not a regular file; remove it") from None
            raise
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise NotOwnedError(f"{path} is not a regular file; remove it")
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = re.sub(r"\D", "", os.pread(fd, 32, 0).decode("ascii", "replace"))
                raise RunLockedError(
                    f"{self.root} is in use by another Perceptogram run (PID "
                    f"{holder or 'unknown'}); wait for it to finish, or choose another "
                    "output folder"
                ) from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
            try:
                yield
            finally:
                os.ftruncate(fd, 0)
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def remove_stale_temps(self) -> list[Path]:
        """Delete temporary files left by a killed run; refuse a run holding a link.

        Call only while holding :meth:`lock` (no other run can be writing them).
        Symbolic links are never followed. Perceptogram never makes one in a run
        directory, so a link there (other than a stale temporary's name, which is
        removed as a link) came from elsewhere, e.g. a received run whose
        ``cache`` leads to the user's home: the run is refused, naming it.

        Returns
        -------
        removed : list of Path

        Raises
        ------
        perceptogram._owned.NotOwnedError
            A symbolic link (or a FIFO, socket or device) inside the run directory.
        """
        removed = []
        stack = [self.root]
        while stack:
            folder = stack.pop()
            with os.scandir(folder) as entries:
                for entry in entries:
                    path = Path(entry.path)
                    if _STALE_TEMP.fullmatch(entry.name):
                        remove_owned(path)
                        removed.append(path)
                    elif entry.is_symlink():
                        raise NotOwnedError(
                            f"{path} is a symbolic link inside the run directory {self.root}; "
                            "Perceptogram never makes one there and does not write through "
                            "it: replace it by the folder or file itself, or remove it")
                    elif entry.is_dir(follow_symlinks=False):
                        stack.append(path)
                    elif not entry.is_file(follow_symlinks=False):
                        raise NotOwnedError(
                            f"{path} inside the run directory {self.root} is not a regular "
                            "file or folder (a FIFO, socket or device); remove it")
        return removed

    def __repr__(self) -> str:
        return f"RunDir({str(self.root)!r})"

    def __reduce__(self) -> tuple[type, tuple[str]]:
        return (RunDir, (str(self.root),))

    # -- layout -----------------------------------------------------------------------
    def unit_dir(self, stage: str, subject: int | None = None, space: str | None = None) -> Path:
        """Folder of one unit's artifacts (not created)."""
        path = self.root / stage
        if subject is not None:
            path = path / subject_label(subject)
        if space is not None:
            path = path / space
        return path

    def path(self, unit: Unit) -> Path:
        """Folder of ``unit``'s artifacts (not created)."""
        return self.unit_dir(unit.stage, unit.subject, unit.space)

    def manifest_path(self, unit: Unit) -> Path:
        return self.path(unit) / MANIFEST

    @property
    def timings_path(self) -> Path:
        return self.root / "timings.json"

    @property
    def config_path(self) -> Path:
        return self.root / "config.yaml"

    @property
    def report_path(self) -> Path:
        return self.root / "report" / "report.html"

    # -- manifests --------------------------------------------------------------------
    def read_manifest(self, unit: Unit) -> dict[str, Any] | None:
        """The unit's manifest, or None if it was never completed (or is not readable).

        A manifest larger than :data:`MAX_MANIFEST_BYTES`, not UTF-8 JSON, or not
        a JSON object counts as absent: the unit is recomputed.
        """
        path = self.manifest_path(unit)
        if path.is_symlink() or not path.is_file():
            return None
        try:
            manifest = read_input_json(path, max_bytes=MAX_MANIFEST_BYTES, what="a manifest")
        except (OSError, ValueError):
            return None
        return manifest if isinstance(manifest, dict) else None

    @staticmethod
    def unit_key(settings: dict[str, Any], inputs: dict[str, str]) -> str:
        """Key of a unit: hash of its settings, its inputs' digests and the version."""
        return settings_hash(
            {"settings": settings, "inputs": inputs, "version": __version__}
        )

    def is_current(self, unit: Unit, key: str) -> bool:
        """Whether ``unit`` was completed with ``key`` and its files are intact."""
        return self.check(unit, key) is None

    def check(self, unit: Unit, key: str) -> str | None:
        """Why ``unit`` must be (re)computed, or None if it is up to date.

        Every file the manifest lists must still have its SHA-256 (files over
        :data:`FULL_HASH_MAX_BYTES`: the :func:`~perceptogram._hashing.file_fingerprint`
        recorded when the unit was sealed).

        Returns
        -------
        reason : str or None
            ``"not computed"``, ``"settings or inputs changed"``, or ``"<file> is
            missing"`` / ``"<file> changed since it was written"`` (a corrupted or
            edited artifact).
        """
        manifest = self.read_manifest(unit)
        if manifest is None:
            return "not computed"
        if manifest.get("key") != key:
            return "settings or inputs changed"
        base = self.path(unit)
        outputs = manifest.get("outputs")
        if not isinstance(outputs, dict) or not isinstance(manifest.get("digest"), str):
            return "its manifest is damaged"
        for rel, info in outputs.items():
            if not isinstance(rel, str) or not all(is_plain_name(p) for p in rel.split("/")):
                return "its manifest is damaged"
            path = base / rel
            if not isinstance(info, dict) or not path.is_file() or path.is_symlink():
                return f"{rel} is missing"
            if not _unchanged(path, info):
                return f"{rel} changed since it was written"
        return None

    def digest(self, unit: Unit, part: str | None = None) -> str:
        """Digest of a completed unit's outputs (what downstream keys are built from).

        Parameters
        ----------
        unit : Unit
        part : str or None
            A subfolder of the unit (a latent space of a unit that writes one folder
            per space): the digest of the files inside it only, so that a downstream
            unit of that space does not depend on the other spaces' files. ``None``
            (or a part the unit has no files in): every output.
        """
        manifest = self.read_manifest(unit)
        if manifest is None:
            raise FileNotFoundError(
                f"{unit.label} has not been computed in {self.root}; run its stage first"
            )
        if part is not None:
            prefix = f"{part}/"
            files = {rel: entry["sha256"] for rel, entry in manifest["outputs"].items()
                     if rel.startswith(prefix)}
            if files:
                return settings_hash(files)
        return manifest["digest"]

    def clear(self, unit: Unit) -> None:
        """Delete ``unit``'s folder so that it is recomputed from scratch.

        Raises
        ------
        perceptogram._owned.NotOwnedError
            If the folder leads outside the run directory (a symbolic link on the
            way), or the run directory is not marked as ours; nothing is then
            written there either (the runner writes a unit only after clearing it).
        """
        path = self.path(unit)
        if not is_inside(path.parent, self.root, strict=False):
            raise NotOwnedError(
                f"refusing to use {path}: a symbolic link on the way leads outside the run "
                f"directory {self.root}"
            )
        if path.exists() or path.is_symlink():
            remove_owned(path)

    def seal(self, unit: Unit, key: str, settings: dict[str, Any], inputs: dict[str, str],
             elapsed_s: float) -> dict[str, Any]:
        """Hash the unit's files and write its manifest (atomically, last).

        Parameters
        ----------
        unit : Unit
        key : str
            From :meth:`unit_key`.
        settings : dict
            The configuration settings the unit depends on.
        inputs : dict of str to str
            Upstream unit label -> digest.
        elapsed_s : float
            Wall time of the stage function for this unit.
        """
        base = self.path(unit)
        make_dirs(base)
        outputs = {}
        for path in sorted(p for p in base.rglob("*") if p.is_file()):
            rel = path.relative_to(base).as_posix()
            if rel == MANIFEST or path.name.startswith("."):
                continue
            outputs[rel] = {"sha256": file_digest(path), "size": path.stat().st_size}
            if outputs[rel]["size"] > FULL_HASH_MAX_BYTES:
                outputs[rel]["fingerprint"] = file_fingerprint(path)
        manifest = {
            "stage": unit.stage,
            "subject": unit.subject,
            "space": unit.space,
            "key": key,
            "settings": settings,
            "inputs": inputs,
            "package_version": __version__,
            "outputs": outputs,
            "digest": settings_hash({k: v["sha256"] for k, v in outputs.items()}),
            "elapsed_s": round(elapsed_s, 3),
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        write_json_atomic(self.manifest_path(unit), manifest)
        return manifest


def _unchanged(path: Path, info: dict[str, Any]) -> bool:
    """Whether ``path`` still has the size and content digest its manifest recorded."""
    size = path.stat().st_size
    if size != info.get("size"):
        return False
    if size > FULL_HASH_MAX_BYTES and isinstance(info.get("fingerprint"), dict):
        recorded = {k: v for k, v in info["fingerprint"].items() if k != "name"}
        current = {k: v for k, v in file_fingerprint(path).items() if k != "name"}
        return current == recorded
    return file_digest(path) == info.get("sha256")
