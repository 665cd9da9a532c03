"""Read a previous site tree without trusting it: regular files only, no link ever followed.

The previous site comes back from a cache (the actions cache in the publish workflow), so
it may have been tampered with: a symbolic link ``eth-usdt/notes.txt -> /proc/self/environ``
would otherwise be read as a file holding the process environment. Every function here
walks with ``lstat``/``O_NOFOLLOW`` and reports what it refuses; none of them depends on
how the list of expected files was made, so any site plan can be passed in.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path

MAX_FILE_BYTES = 64 * 1024 * 1024  # far above any page or data file liqmap writes


class UnsafeEntry(ValueError):
    """A path in the tree that is not a plain regular file where one is expected."""


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def read_regular_file(
    root: Path, rel: str, max_bytes: int = MAX_FILE_BYTES, *, allow_hard_links: bool = False
) -> bytes:
    """The bytes of ``root/rel`` when every folder on the way and the file itself are real.

    Raises :class:`UnsafeEntry` for a link (at any depth), a pipe, a device, a folder, a
    hard-linked file (a link to a file outside the tree looks like a regular file, but
    the writer never makes a second name for its own files) or a file over ``max_bytes``;
    ``OSError`` when it cannot be read.
    """
    parts = rel.split("/")
    if not rel or any(p in ("", ".", "..") for p in parts):
        raise UnsafeEntry(f"{rel!r}: not a canonical relative path")
    nofollow = getattr(os, "O_NOFOLLOW", 0)
    fds = [os.open(root, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))]
    try:
        for i, part in enumerate(parts[:-1]):
            try:
                fds.append(os.open(part, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | nofollow, dir_fd=fds[-1]))
            except OSError as e:
                st = os.stat(part, dir_fd=fds[-1], follow_symlinks=False)
                if not stat.S_ISDIR(st.st_mode):
                    raise UnsafeEntry(f"{'/'.join(parts[: i + 1])}: is {_kind(st.st_mode)}, not a folder") from e
                raise
        st = os.stat(parts[-1], dir_fd=fds[-1], follow_symlinks=False)
        if not stat.S_ISREG(st.st_mode):
            raise UnsafeEntry(f"{rel}: is {_kind(st.st_mode)}, not a regular file")
        if st.st_nlink != 1 and not allow_hard_links:
            raise UnsafeEntry(f"{rel}: has {st.st_nlink} names (a hard link); liqmap never writes one")
        if st.st_size > max_bytes:
            raise UnsafeEntry(f"{rel}: {st.st_size} bytes, over the {max_bytes} byte limit")
        fd = os.open(parts[-1], os.O_RDONLY | nofollow | getattr(os, "O_NONBLOCK", 0), dir_fd=fds[-1])
        try:
            again = os.fstat(fd)
            if not stat.S_ISREG(again.st_mode) or (again.st_dev, again.st_ino) != (st.st_dev, st.st_ino):
                raise UnsafeEntry(f"{rel}: changed while it was read")
            with os.fdopen(fd, "rb", closefd=False) as fh:
                data = fh.read(max_bytes + 1)
        finally:
            os.close(fd)
        if len(data) > max_bytes:
            raise UnsafeEntry(f"{rel}: over the {max_bytes} byte limit")
        return data
    finally:
        for fd in reversed(fds):
            os.close(fd)


def regular_files(root: Path) -> tuple[set[str], list[str]]:
    """``(regular files, other entries)`` under ``root`` as posix paths, following nothing.

    "Other entries" are links, pipes, sockets and devices (folders are walked, never listed).
    Dot entries (the writer's marker, a user's ``.git``) are skipped: they are never site pages.
    """
    files: set[str] = set()
    other: list[str] = []

    def walk(folder: str, prefix: str) -> None:
        with os.scandir(folder) as it:
            for entry in it:
                if entry.name.startswith("."):
                    continue
                rel = prefix + entry.name
                if entry.is_dir(follow_symlinks=False):
                    walk(entry.path, rel + "/")
                elif entry.is_file(follow_symlinks=False):
                    files.add(rel)
                else:
                    other.append(rel)

    walk(str(root), "")
    return files, sorted(other)


def unexpected_entries(
    names: Iterable[str], other: Iterable[str], folders: Iterable[str], singles: Iterable[str],
    allowed: set[str],
) -> list[str]:
    """Entries in a symbol's own folders (or at its single paths) that ``allowed`` does not name.

    ``names``/``other`` come from :func:`regular_files`; ``folders`` end with "/".
    A link or pipe there is always unexpected, even at a path the plan names.
    """
    folders = tuple(folders)
    singles = set(singles)
    # a link standing where a folder of the symbol should be counts too
    mine = [n for n in (*names, *other) if n.startswith(folders) or f"{n}/" in folders or n in singles]
    other_set = set(other)
    return sorted(n for n in mine if n in other_set or n not in allowed)
