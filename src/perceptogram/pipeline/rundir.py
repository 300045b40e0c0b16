"""Run-directory bookkeeping: where each artifact lives and whether it is up to date.

A *unit* of work is one stage applied to one (subject, latent space) pair; either
may be ``None`` for stages that do not depend on it (the simulated dataset is one
unit for the whole run; stimulus latents are one unit per latent space). Each unit
writes its files into its own folder, ``<run>/<stage>[/sub-XX][/<space>]/``, and
the runner seals it with ``manifest.json``: the settings that produced it, the
digests of the upstream units it read, the package version, and the SHA-256 of
every file it wrote. A unit whose key (settings + inputs + version) is unchanged
and whose files are all still there is skipped; a unit without a manifest (never
run, or interrupted) is recomputed.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from perceptogram import __version__
from perceptogram._hashing import file_digest
from perceptogram._io import write_json_atomic
from perceptogram.config import settings_hash

__all__ = ["Unit", "RunDir", "subject_label"]

MANIFEST = "manifest.json"


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
        """The unit's manifest, or None if it was never completed."""
        path = self.manifest_path(unit)
        if not path.is_file():
            return None
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return None

    @staticmethod
    def unit_key(settings: dict[str, Any], inputs: dict[str, str]) -> str:
        """Key of a unit: hash of its settings, its inputs' digests and the version."""
        return settings_hash(
            {"settings": settings, "inputs": inputs, "version": __version__}
        )

    def is_current(self, unit: Unit, key: str) -> bool:
        """Whether ``unit`` was completed with ``key`` and its files are intact.

        Files are checked by presence and size (a full re-hash of every artifact
        on every run would cost more than most stages).
        """
        manifest = self.read_manifest(unit)
        if manifest is None or manifest.get("key") != key:
            return False
        base = self.path(unit)
        for rel, info in manifest.get("outputs", {}).items():
            path = base / rel
            if not path.is_file() or path.stat().st_size != info["size"]:
                return False
        return True

    def digest(self, unit: Unit) -> str:
        """Digest of a completed unit's outputs (what downstream keys are built from)."""
        manifest = self.read_manifest(unit)
        if manifest is None:
            raise FileNotFoundError(
                f"{unit.label} has not been computed in {self.root}; run its stage first"
            )
        return manifest["digest"]

    def clear(self, unit: Unit) -> None:
        """Delete ``unit``'s folder so that it is recomputed from scratch."""
        path = self.path(unit)
        if path.is_dir():
            shutil.rmtree(path)

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
        base.mkdir(parents=True, exist_ok=True)
        outputs = {}
        for path in sorted(p for p in base.rglob("*") if p.is_file()):
            rel = path.relative_to(base).as_posix()
            if rel == MANIFEST or path.name.startswith("."):
                continue
            outputs[rel] = {"sha256": file_digest(path), "size": path.stat().st_size}
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
