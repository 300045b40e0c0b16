"""Path resolution shortcuts against ``os.path.realpath`` (brute force)."""

from __future__ import annotations

import os

from perceptogram._paths import resolved_paths


def test_resolved_paths_equal_realpath_with_links(tmp_path):
    real = tmp_path / "real"
    (real / "a").mkdir(parents=True)
    (real / "a" / "x.png").write_bytes(b"x")
    outside = tmp_path / "outside.png"
    outside.write_bytes(b"o")
    (real / "a" / "link.png").symlink_to(outside)                 # a linked file
    (tmp_path / "linked_folder").symlink_to(real / "a")           # a linked folder
    (real / "a" / "dangling.png").symlink_to(tmp_path / "missing")
    paths = [real / "a" / "x.png", real / "a" / "link.png", tmp_path / "linked_folder" / "x.png",
             tmp_path / "linked_folder" / "link.png", real / "a" / "dangling.png",
             real / "a" / "absent.png", real / "a" / ".." / "a" / "x.png",
             f"{tmp_path}/linked_folder/../outside.png", "x.png",
             os.path.relpath(real / "a" / "x.png")]
    assert resolved_paths(paths) == [os.path.realpath(p) for p in paths]
