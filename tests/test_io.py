"""Atomic writes: all or nothing, and files get the usual permissions."""

from __future__ import annotations

import os
import stat

import pytest

from perceptogram._io import atomic_path, default_mode, write_json_atomic, write_text_atomic


def test_atomic_write_replaces_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "sub" / "a.txt"
    write_text_atomic(target, "one")
    write_text_atomic(target, "two")
    assert target.read_text() == "two"
    assert sorted(p.name for p in target.parent.iterdir()) == ["a.txt"]


def test_failed_write_keeps_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "a.json"
    write_json_atomic(target, {"x": 1})
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half-written")
            raise RuntimeError("interrupted")
    assert target.read_text().strip().startswith("{")
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_written_files_follow_the_umask_not_mkstemps_0600(tmp_path):
    old = os.umask(0o022)
    try:
        target = tmp_path / "report.html"
        write_text_atomic(target, "<html></html>")
        assert stat.S_IMODE(target.stat().st_mode) == 0o644 == default_mode()
        assert default_mode(directory=True) == 0o755
    finally:
        os.umask(old)


def test_default_mode_never_changes_the_umask(monkeypatch):
    # Setting the umask to read it races with other threads creating files.
    old = os.umask(0o027)
    try:
        def forbidden(*args):
            raise AssertionError("os.umask was called")

        monkeypatch.setattr(os, "umask", forbidden)
        assert default_mode() == 0o640
        assert default_mode(directory=True) == 0o750
    finally:
        monkeypatch.undo()
        os.umask(old)


def test_atomic_write_fsyncs_before_rename(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (events.append("fsync"), real_fsync(fd)))
    monkeypatch.setattr(os, "replace",
                        lambda a, b: (events.append("replace"), real_replace(a, b)))
    write_text_atomic(tmp_path / "a.txt", "x")
    assert events == ["fsync", "replace"]


def test_failed_write_removes_only_its_temporary(tmp_path, monkeypatch):
    # Even if the writer replaced its temporary path by something else, only a file
    # named like our temporaries is ever deleted.
    (tmp_path / "keep.txt").write_text("precious")
    with pytest.raises(OSError, match="No space"):
        with atomic_path(tmp_path / "a.bin") as tmp:
            tmp.write_bytes(b"half")
            raise OSError(28, "No space left on device")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]
