"""``policy.real_path`` resolves every path exactly as ``os.path.realpath`` does, symlinks, climbs and all."""
import itertools
import os

from mlrun.policy import real_path


def test_real_path_agrees_with_realpath_on_every_combination(tmp_path):
    root = tmp_path / "root"
    (root / "dir" / "sub").mkdir(parents=True)
    (root / "dir" / "file.txt").write_text("x")
    (root / "out").mkdir()
    os.symlink(root / "out", root / "dir" / "to_out")          # a folder link leading out
    os.symlink("sub", root / "dir" / "to_sub")                  # a relative folder link
    os.symlink(root / "dir" / "file.txt", root / "dir" / "to_file")
    os.symlink(root / "dir" / "missing", root / "dir" / "dangling")
    os.symlink("loop", root / "dir" / "loop")
    parts = ["dir", "sub", "to_out", "to_sub", "to_file", "dangling", "loop", "file.txt", "nothere", "..", "."]
    checked = 0
    for length in (1, 2, 3, 4):
        for combo in itertools.product(parts, repeat=length):
            path = os.path.join(str(root), *combo)
            assert real_path(path) == os.path.realpath(path), path
            checked += 1
    assert checked > 10_000


def test_relative_paths_are_taken_from_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    os.symlink("/etc", tmp_path / "etc_link")
    for path in ("x", "etc_link/passwd", "./a/../b", "etc_link/../x"):
        assert real_path(path) == os.path.realpath(path)
