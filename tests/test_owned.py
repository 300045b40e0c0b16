"""The one guarded deletion function refuses anything Perceptogram did not mark."""

import pytest

from perceptogram._owned import NotOwnedError, mark_owned, owned_kind, remove_owned


def test_removes_inside_marked_folder(tmp_path):
    run = mark_owned(tmp_path / "run", "run")
    (run / "stage" / "a").mkdir(parents=True)
    (run / "stage" / "a" / "f.txt").write_text("x")
    remove_owned(run / "stage")
    assert not (run / "stage").exists() and owned_kind(run) == "run"


def test_refuses_unmarked_marker_itself_and_traversal(tmp_path):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "data.txt").write_text("precious")
    run = mark_owned(tmp_path / "run", "run")
    for target in (victim, victim / "data.txt", run, run / ".." / "victim"):
        with pytest.raises(NotOwnedError):
            remove_owned(target)
    assert (victim / "data.txt").read_text() == "precious"


def test_symlink_inside_run_is_unlinked_not_followed(tmp_path):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "data.txt").write_text("precious")
    run = mark_owned(tmp_path / "run", "run")
    (run / "link").symlink_to(victim, target_is_directory=True)
    remove_owned(run / "link")
    assert not (run / "link").exists() and (victim / "data.txt").exists()
    # A symlinked run directory cannot launder a path outside it either.
    (tmp_path / "alias").symlink_to(victim, target_is_directory=True)
    with pytest.raises(NotOwnedError):
        remove_owned(tmp_path / "alias" / "data.txt")


def test_mark_refuses_non_empty_unmarked_folder(tmp_path):
    (tmp_path / "keep.txt").write_text("x")
    with pytest.raises(NotOwnedError, match="not empty"):
        mark_owned(tmp_path, "run")
    assert owned_kind(tmp_path) is None


def test_a_folder_another_process_is_marking_is_waited_for_not_refused(tmp_path):
    # Two units create one shared cache folder at once: the second sees the first's
    # temporary marker, not yet renamed into place.
    import threading

    from perceptogram._owned import MARKER, _write_marker, temp_prefix

    folder = tmp_path / "cache"
    folder.mkdir()
    pending = folder / (temp_prefix(MARKER) + "abcdefgh")  # this (live) process's
    pending.write_text("{}")

    def finish() -> None:
        _write_marker(folder, "cache")
        pending.unlink()

    timer = threading.Timer(0.2, finish)
    timer.start()
    try:
        assert mark_owned(folder, "cache") == folder
    finally:
        timer.join()
    assert owned_kind(folder) == "cache"
    # a temporary marker of a process that is gone, or with other files, is not waited for
    other = tmp_path / "other"
    other.mkdir()
    (other / f".{MARKER}.tmp-999999999-elsewhere-abcdefgh").write_text("{}")
    with pytest.raises(NotOwnedError, match="not empty"):
        mark_owned(other, "cache")


def test_a_marked_folder_itself_is_removed_only_with_its_kind(tmp_path):
    staging = mark_owned(tmp_path / "staging", "simulation")
    (staging / "f.txt").write_text("x")
    (tmp_path / "alias").symlink_to(staging, target_is_directory=True)
    for kind in (None, "run"):
        with pytest.raises(NotOwnedError):
            remove_owned(staging, marked_kind=kind)
    with pytest.raises(NotOwnedError):  # a link to it is judged where it sits
        remove_owned(tmp_path / "alias", marked_kind="simulation")
    remove_owned(staging, marked_kind="simulation")
    assert not staging.exists() and (tmp_path / "alias").is_symlink()


def test_discard_temp_only_deletes_our_temporary_files(tmp_path):
    from perceptogram._owned import discard_temp, is_temp_name, temp_prefix

    temp = tmp_path / (temp_prefix("a.npy") + "abcd_123.npy")
    temp.write_text("x")
    assert is_temp_name(temp.name)
    discard_temp(temp)
    assert not temp.exists()
    discard_temp(temp)  # already gone: fine
    for name in ("a.npy", ".a.npy.tmp-xyz", "..", ".a.tmp-1-h-abcd_123/../../x"):
        keep = tmp_path / "keep.txt"
        keep.write_text("precious")
        with pytest.raises(NotOwnedError):
            discard_temp(tmp_path / name)
    assert keep.read_text() == "precious"
    folder = tmp_path / (temp_prefix("d") + "abcdefgh")
    folder.mkdir()
    with pytest.raises(NotOwnedError, match="folder"):
        discard_temp(folder)


def test_stale_temps_of_dead_processes_are_cleaned(tmp_path):
    import os
    import subprocess
    import sys

    from perceptogram._owned import _host, discard_stale_temps, temp_prefix

    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead = int(proc.stdout)
    stale = tmp_path / f".x.npy.tmp-{dead}-{_host()}-abcdefgh.npy"
    mine = tmp_path / (temp_prefix("y.npy") + "abcdefgh.npy")
    other_host = tmp_path / f".z.npy.tmp-{dead}-someotherhost-abcdefgh.npy"
    user = tmp_path / "x.npy"
    for path in (stale, mine, other_host, user):
        path.write_text("x")
    assert discard_stale_temps(tmp_path) == 1
    assert not stale.exists()
    assert mine.exists() and other_host.exists() and user.exists()
    assert os.getpid() != dead


def test_claim_folder_marks_new_and_accepts_legacy_caches(tmp_path):
    from perceptogram._owned import claim_folder

    assert claim_folder(tmp_path / "new" / "cache", "cache")
    assert owned_kind(tmp_path / "new" / "cache") == "cache"
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    (legacy / "old.float32.npy").write_text("x")
    assert not claim_folder(legacy, "cache")
    assert owned_kind(legacy) is None
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotOwnedError):
        claim_folder(tmp_path / "file", "cache")
