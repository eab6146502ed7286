"""A file replaced with write_atomically is the old one or the new one, never half of either."""

import pytest

from bloomwatch.atomic_write import write_atomically


def test_a_write_replaces_the_file_and_leaves_nothing_beside_it(tmp_path):
    path = tmp_path / "sub" / "current"
    write_atomically(path, lambda tmp: tmp.write_text("v1\n"))
    write_atomically(path, lambda tmp: tmp.write_text("v2\n"))
    assert path.read_text() == "v2\n" and [p.name for p in path.parent.iterdir()] == ["current"]


def test_a_failed_write_keeps_the_old_file_and_removes_its_temporary(tmp_path):
    path = tmp_path / "current"
    path.write_text("v1\n")

    def half_then_fail(tmp):
        tmp.write_text("v")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomically(path, half_then_fail)
    assert path.read_text() == "v1\n" and [p.name for p in tmp_path.iterdir()] == ["current"]
