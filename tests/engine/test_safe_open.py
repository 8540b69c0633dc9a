"""engine/safe_open.py: nginx's ``ngx_http_set_disable_symlinks`` prefix rule and the openat
walk, on a real temporary tree (no server)."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from engine.safe_open import OpenError, Symlinks, file_info, open_file, symlinks_from

ON, OFF, OWNER = Symlinks.ON, Symlinks.OFF, Symlinks.IF_NOT_OWNER


@pytest.mark.parametrize("from_value,path,expected", [
    (None, "/r/a/b", (ON, 0)),
    ("", "/r/a/b", (ON, 0)),
    ("/r", "/r/a/b", (ON, 2)),
    ("/r/", "/r/a/b", (ON, 2)),
    ("/r/a", "/r/a/b", (ON, 4)),
    ("/r/a/b", "/r/a/b", (OFF, 0)),     # the whole path: nothing to check
    ("/r/a/b/c", "/r/a/b", (ON, 0)),    # longer than the path
    ("/r/x", "/r/a/b", (ON, 0)),        # not a prefix
    ("/r/a/", "/r/ab/c", (ON, 0)),      # not a prefix either
    ("/r/a", "/r/ab/c", (ON, 0)),       # a prefix, but not at a component boundary
    ("r", "r/a", (ON, 1)),              # relative values compare as text
])
def test_symlinks_from(from_value: str | None, path: str,
                       expected: tuple[Symlinks, int]) -> None:
    assert symlinks_from(ON, from_value, path) == expected


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f").write_bytes(b"f")
    os.symlink("d", tmp_path / "ld")
    os.symlink("d/f", tmp_path / "lf")
    os.symlink("d/f", tmp_path / "lf_other")
    os.lchown(tmp_path / "lf_other", 65534, 65534)
    os.symlink("loop", tmp_path / "loop")
    return tmp_path


def _read(path: Path, mode: Symlinks, from_len: int = 0) -> bytes:
    fd = open_file(bytes(path), mode, from_len)
    try:
        return os.read(fd, 10)
    finally:
        os.close(fd)


def _errno(path: Path | bytes, mode: Symlinks, from_len: int = 0) -> tuple[int, str]:
    with pytest.raises(OpenError) as info:
        open_file(bytes(path), mode, from_len)
    assert info.value.errno is not None
    return info.value.errno, info.value.syscall


def test_off_follows_everything(tree: Path) -> None:
    assert _read(tree / "ld" / "f", OFF) == b"f"
    assert _read(tree / "lf_other", OFF) == b"f"
    assert _errno(tree / "loop", OFF) == (errno.ELOOP, "open()")


def test_on_refuses_a_symlink_anywhere(tree: Path) -> None:
    assert _read(tree / "d" / "f", ON) == b"f"
    assert _errno(tree / "lf", ON) == (errno.ELOOP, "openat()")
    assert _errno(tree / "ld" / "f", ON) == (errno.ENOTDIR, "openat()")
    assert _errno(tree / "nope", ON) == (errno.ENOENT, "openat()")


def test_from_prefix_is_trusted(tree: Path) -> None:
    path = str(tree / "ld" / "f")
    mode, from_len = symlinks_from(ON, str(tree / "ld"), path)
    assert _read(Path(path), mode, from_len) == b"f"
    # the prefix is opened with a plain open(): its failure is named so
    assert _errno(tree / "nope" / "f", ON, len(str(tree / "nope"))) == (errno.ENOENT, "open()")


def test_if_not_owner_compares_link_and_target(tree: Path) -> None:
    assert _read(tree / "lf", OWNER) == b"f"
    assert _read(tree / "ld" / "f", OWNER) == b"f"
    assert _errno(tree / "lf_other", OWNER) == (errno.ELOOP, "openat()")


def test_trailing_slash_reopens_the_directory(tree: Path) -> None:
    assert file_info(bytes(tree / "d") + b"/", ON).st_ino == os.stat(tree / "d").st_ino
    # pathlib drops a trailing slash: bytes keep it
    assert _errno(bytes(tree / "ld") + b"/", ON)[0] == errno.ENOTDIR


def test_no_descriptor_leaks(tree: Path) -> None:
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(50):
        for p, m in [(tree / "ld" / "f", ON), (tree / "lf_other", OWNER), (tree / "nope", ON)]:
            with pytest.raises(OpenError):
                open_file(bytes(p), m)
        file_info(bytes(tree / "d" / "f"), ON)
    assert len(os.listdir("/proc/self/fd")) == before


def test_a_swapped_component_is_never_followed(tree: Path) -> None:
    """The walk holds a descriptor per component: once ``d`` is open, replacing it with a
    symlink changes nothing for that open, and a later open sees the symlink and refuses."""
    fd = open_file(bytes(tree / "d") + b"/", ON, 0, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.rename(tree / "d", tree / "d2")
        os.symlink("d2", tree / "d")
        assert os.stat("f", dir_fd=fd).st_size == 1  # still the directory that was checked
        assert _errno(tree / "d" / "f", ON)[0] == errno.ENOTDIR
    finally:
        os.close(fd)
