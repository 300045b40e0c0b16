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
