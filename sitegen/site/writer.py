"""Write the whole site into a temporary folder beside ``out_dir``, validate it, swap it in.

:func:`write_site` takes a complete {path: bytes} mapping; :class:`StagedSite` takes the
files as they come (a symbol at a time, or from worker processes and shard parts), so the
build never holds the whole site in memory.

The swap is atomic where the OS can exchange two directories in one system call (Linux
``renameat2(RENAME_EXCHANGE)``, macOS ``renamex_np(RENAME_SWAP)``): at every instant
``out_dir`` holds either the complete previous tree or the complete new one, even when
the process is killed with SIGKILL. Elsewhere a two-rename fallback is used; a kill
between the two renames leaves the previous tree beside ``out_dir`` and the next build
puts it back before doing anything else.

Files in ``out_dir`` that liqmap did not write (a GitHub Pages ``CNAME`` or ``.nojekyll``,
notes, a ``.git/`` folder) are kept: the marker lists every path the writer wrote, and
everything else is hard-linked (never followed, never copied through a link) into the new
tree before the swap. A kept path that the new site would write too stops the build before
anything changes, naming it. A tree written before the marker had that list keeps
everything the new build does not write.

Leftovers of killed builds (``.<name>-liqmap-tmp-<pid>-...``) are removed by the next
build once their process is gone. Files are flushed by the kernel, not fsynced: this
protects against a killed process, not against a power cut.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import json
import logging
import os
import re
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath

from sitegen.errors import BuildError

log = logging.getLogger(__name__)

# Written into every tree this module produces; an existing --out folder without it is
# never replaced (so `--out ~/Documents` cannot wipe a folder that is not ours).
MARKER = ".liqmap-site"
_TMP = "liqmap-tmp"
_OLD = "liqmap-old"
_LEFTOVER_RE = re.compile(rf"^\.(?P<name>.+)-(?P<kind>{_TMP}|{_OLD})-(?P<pid>\d+)-[A-Za-z0-9_]+$")
_SEGMENT_RE = re.compile(r"^[A-Za-z0-9._~@+=,-]+$")
MAX_PROBLEMS_SHOWN = 20


def validate_paths(paths: Iterable[str]) -> None:
    """Refuse paths that escape the root, are not in canonical posix form, or collide.

    Collisions are: the same path after case folding (two files on macOS/Windows), and
    a path that is both a file and a folder (``a`` and ``a/b``).
    """
    problems: list[str] = []
    folded: dict[str, str] = {}
    files: set[str] = set()
    for path in paths:
        if not isinstance(path, str) or not path:
            problems.append(f"{path!r}: a site path must be a non-empty string")
            continue
        parts = path.split("/")
        if path.startswith("/") or "\\" in path or re.match(r"^[A-Za-z]:", path):
            problems.append(f"{path!r}: absolute paths are not allowed; use a path relative to the site root")
            continue
        if any(p in ("", ".", "..") for p in parts):
            problems.append(
                f"{path!r}: empty, '.' or '..' segments are not allowed "
                f"(the canonical form is {PurePosixPath(path).as_posix()!r})"
            )
            continue
        bad = [p for p in parts if not _SEGMENT_RE.match(p)]
        if bad:
            problems.append(f"{path!r}: segment {bad[0]!r} has characters unsafe in a URL or file name")
            continue
        key = path.casefold()
        if key in folded:
            problems.append(f"{path!r}: written twice (collides with {folded[key]!r})")
            continue
        folded[key] = path
        files.add(key)
    for key in files:
        parts = key.split("/")
        for i in range(1, len(parts)):
            prefix = "/".join(parts[:i])
            if prefix in files:
                problems.append(f"{folded[prefix]!r} is a file but {folded[key]!r} needs it to be a folder")
    if problems:
        raise BuildError("refusing to write the site: " + "; ".join(sorted(problems)[:MAX_PROBLEMS_SHOWN]))


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid() or os.name == "nt":
        # on Windows os.kill(pid, 0) would terminate the process: never probe, keep leftovers
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:  # cannot tell: assume alive and leave its folder alone
        return True
    return True


def recover(out_dir: Path) -> None:
    """Undo what a killed earlier build left beside ``out_dir``.

    If ``out_dir`` is missing but a previous tree was parked beside it by the two-rename
    fallback, move it back; then delete temporary trees whose process is gone.
    """
    parent = out_dir.parent
    if not parent.is_dir():
        return
    leftovers = []
    for entry in parent.iterdir():
        m = _LEFTOVER_RE.match(entry.name)
        if m and m["name"] == out_dir.name and entry.is_dir() and not _pid_alive(int(m["pid"])):
            leftovers.append((m["kind"], entry))
    if not out_dir.exists():
        parked = [e for kind, e in leftovers if kind == _OLD and (e / MARKER).is_file()]
        if parked:
            newest = max(parked, key=lambda e: e.stat().st_mtime)
            log.warning("restoring the previous site %s -> %s (a build was killed mid-swap)", newest, out_dir)
            os.rename(newest, out_dir)
            leftovers = [(k, e) for k, e in leftovers if e != newest]
    for _, entry in leftovers:
        log.info("removing leftover %s of a killed build", entry)
        shutil.rmtree(entry, ignore_errors=True)


def written_by_liqmap(out_dir: Path) -> set[str] | None:
    """The paths the writer wrote into ``out_dir`` (from its marker), or None when unknown."""
    try:
        listed = json.loads((out_dir / MARKER).read_text(encoding="utf-8")).get("written")
    except (OSError, ValueError, AttributeError):
        return None
    if not isinstance(listed, list) or not all(isinstance(p, str) for p in listed):
        return None
    return set(listed)


def user_entries(out_dir: Path, new_paths: Iterable[str]) -> list[str]:
    """What in ``out_dir`` liqmap did not write: files, links and empty folders (posix paths).

    Nothing is followed: a symbolic link is an entry of its own, whatever it points at.
    Without a list in the marker (a tree of an older version), "not written" means "not
    written by this build either".
    """
    written = written_by_liqmap(out_dir)
    ours = written if written is not None else set(new_paths)
    found: list[str] = []

    def walk(folder: Path, prefix: str) -> None:
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: e.name)
        if not entries and prefix:
            found.append(prefix.rstrip("/") + "/")
        for entry in entries:
            rel = prefix + entry.name
            if rel == MARKER:
                continue
            if entry.is_dir(follow_symlinks=False):
                walk(Path(entry.path), rel + "/")
            elif rel not in ours:
                found.append(rel)

    if out_dir.is_dir() and not out_dir.is_symlink():
        walk(out_dir, "")
    return found


def _kept_conflicts(kept: Iterable[str], new_paths: Iterable[str]) -> list[str]:
    """Kept entries the new site would overwrite, or that need a folder where it writes a file."""
    new = set(new_paths)
    new_dirs = {"/".join(p.split("/")[:i]) for p in new for i in range(1, p.count("/") + 1)}
    problems = []
    for rel in kept:
        path = rel.rstrip("/")
        parts = path.split("/")
        overwritten = path in new or (not rel.endswith("/") and path in new_dirs)
        under_a_file = any("/".join(parts[:i]) in new for i in range(1, len(parts)))
        if overwritten or under_a_file:
            problems.append(path)
    return problems


def _link_kept(out_dir: Path, tmp: Path, kept: Iterable[str]) -> None:
    """Hard-link each kept entry into ``tmp`` (a copy where linking is refused); links stay links."""
    for rel in kept:
        src = out_dir.joinpath(*rel.rstrip("/").split("/"))
        dst = tmp.joinpath(*rel.rstrip("/").split("/"))
        if rel.endswith("/"):
            dst.mkdir(parents=True, exist_ok=True)
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(src, dst, follow_symlinks=False)
        except OSError:
            if src.is_symlink():
                os.symlink(os.readlink(src), dst)
            else:
                shutil.copy2(src, dst, follow_symlinks=False)


def _is_replaceable(out_dir: Path) -> bool:
    if not out_dir.exists():
        return True
    if not out_dir.is_dir() or out_dir.is_symlink():
        return False
    return (out_dir / MARKER).is_file() or not any(out_dir.iterdir())


_libc: ctypes.CDLL | None = None


def _exchange(a: Path, b: Path) -> bool:
    """Atomically exchange two directories; False when the OS/filesystem cannot."""
    global _libc
    try:
        if _libc is None:
            _libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        if sys.platform.startswith("linux") and hasattr(_libc, "renameat2"):
            at_fdcwd, rename_exchange = -100, 2
            rc = _libc.renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
        elif sys.platform == "darwin" and hasattr(_libc, "renamex_np"):
            rename_swap = 2
            rc = _libc.renamex_np(os.fsencode(a), os.fsencode(b), rename_swap)
        else:
            return False
    except OSError:
        return False
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
        return False
    raise OSError(err, f"cannot swap {a} and {b}: {os.strerror(err)}")


def write_tree(files: Mapping[str, bytes], root: Path) -> None:
    """Write ``files`` under ``root`` (world-readable; a second write to one path fails)."""
    made: set[Path] = {root}
    for rel, content in files.items():
        target = root.joinpath(*rel.split("/"))
        if target.parent not in made:
            target.parent.mkdir(parents=True, exist_ok=True)
            made.add(target.parent)
        if not isinstance(content, bytes | bytearray | memoryview):
            raise BuildError(f"{rel!r}: content must be bytes, got {type(content).__name__}")
        # "x": a second write to one path fails loudly instead of overwriting
        with open(target, "xb") as fh:
            fh.write(content)
        os.chmod(target, 0o644)  # whatever the umask: Pages needs world-readable files
    folders = {root} | {root.joinpath(*rel.split("/")[:i]) for rel in files for i in range(1, rel.count("/") + 1)}
    for d in folders:
        os.chmod(d, 0o755)  # mkdtemp and a strict umask make 0700; Pages needs world-readable


def write_site(files: Mapping[str, bytes], out_dir: Path, *, validate: bool = True) -> None:
    """Write ``files`` ({posix path: bytes}) as the complete new content of ``out_dir``.

    Raises :class:`BuildError` (and leaves ``out_dir`` untouched) when a path is unsafe
    or written twice, when ``out_dir`` exists and is not a liqmap site, or when the new
    tree fails :func:`sitegen.site.check.check_site`.
    """
    validate_paths(files)
    if MARKER in files:
        raise BuildError(f"{MARKER!r} is reserved for the writer's own marker file")
    with StagedSite(out_dir) as stage:
        stage.check_kept(files)  # before writing anything: a clash is known from the names
        stage.add(files)
        stage.commit(validate=validate)


class StagedSite:
    """A new tree written file by file into a temporary folder beside ``out_dir``, then
    validated and swapped in at once (:meth:`commit`).

    Used as a context manager: leaving the block without a commit (an exception, a refused
    build) removes the temporary folder and leaves ``out_dir`` as it was. Files come in as
    they are rendered (:meth:`add`), or are written straight into :attr:`root` by worker
    processes and then declared (:meth:`register`); a path written twice is refused. The
    crash recovery, the marker and the kept user files work as for :func:`write_site`.
    """

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = Path(os.path.abspath(out_dir))
        self._root: Path | None = None
        self._names: dict[str, str] = {}  # casefolded path -> path, in write order

    @property
    def root(self) -> Path:
        if self._root is None:
            raise BuildError("the staged site is not open")
        return self._root

    @property
    def names(self) -> list[str]:
        """Every path written so far (posix, relative to the site root)."""
        return list(self._names.values())

    def __enter__(self) -> StagedSite:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> None:
        """Recover what a killed build left, refuse a folder that is not ours, make the temp tree."""
        out_dir = self.out_dir
        try:
            out_dir.parent.mkdir(parents=True, exist_ok=True)
            recover(out_dir)
            _refuse_foreign(out_dir)
            self._root = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-{_TMP}-{os.getpid()}-", dir=out_dir.parent))
        except OSError as e:
            raise BuildError(os_problem(e, out_dir)) from None

    def close(self) -> None:
        """Remove the temporary tree if it is still there (after a commit it is not)."""
        if self._root is not None and self._root.exists():
            shutil.rmtree(self._root, ignore_errors=True)
        self._root = None

    def register(self, paths: Iterable[str]) -> None:
        """Declare paths already written into :attr:`root` (by a worker process)."""
        paths = list(paths)
        validate_paths(paths)
        for rel in paths:
            if rel == MARKER:
                raise BuildError(f"{MARKER!r} is reserved for the writer's own marker file")
            key = rel.casefold()
            if key in self._names:
                raise BuildError(f"{rel!r}: two parts of the build write this path; each path is written once")
            self._names[key] = rel

    def add(self, files: Mapping[str, bytes]) -> None:
        """Write ``files`` into the temporary tree (each path once over the whole build)."""
        self.register(files)
        try:
            write_tree(files, self.root)
        except OSError as e:
            raise BuildError(os_problem(e, self.out_dir)) from None

    def link(self, src_root: Path, paths: Iterable[str]) -> None:
        """Hard-link the regular files ``paths`` of another tree (a shard's part) into this one
        (a copy where linking is refused); a link or anything but a regular file is refused."""
        paths = list(paths)
        self.register(paths)
        made: set[Path] = set()
        checked: set[Path] = set()
        try:
            for rel in paths:
                src = src_root.joinpath(*rel.split("/"))
                for folder in reversed(src.relative_to(src_root).parents[:-1]):  # never through a link
                    if folder not in checked:
                        if not stat.S_ISDIR(os.lstat(src_root / folder).st_mode):
                            raise BuildError(f"{src_root / folder}: not a folder (a link?); refusing to take "
                                             "files through it")
                        checked.add(folder)
                st = os.lstat(src)
                if not stat.S_ISREG(st.st_mode):
                    raise BuildError(f"{src}: not a regular file (a link?); refusing to take it into the site")
                dst = self.root.joinpath(*rel.split("/"))
                if dst.parent not in made:
                    dst.parent.mkdir(parents=True, exist_ok=True)
                    made.add(dst.parent)
                try:
                    os.link(src, dst, follow_symlinks=False)
                except OSError:
                    shutil.copyfile(src, dst, follow_symlinks=False)
                    os.chmod(dst, 0o644)
        except FileNotFoundError as e:
            raise BuildError(f"{e.filename}: missing from its part; the part is incomplete") from None
        except OSError as e:
            raise BuildError(os_problem(e, self.out_dir)) from None

    def read(self, rel: str) -> bytes:
        """A file written so far."""
        return self.root.joinpath(*rel.split("/")).read_bytes()

    def check_kept(self, new_paths: Iterable[str]) -> list[str]:
        """The user's files in ``out_dir`` that the new tree keeps; a clash with a new path stops."""
        new_paths = list(new_paths)
        kept = user_entries(self.out_dir, new_paths)
        clash = _kept_conflicts(kept, new_paths)
        if clash:
            shown = ", ".join(clash[:MAX_PROBLEMS_SHOWN])
            raise BuildError(
                f"{self.out_dir}: holds {len(clash)} path(s) that liqmap did not write but the new site "
                f"would: {shown}. Nothing was changed; move them out of {self.out_dir} and build again."
            )
        return kept

    def commit(self, *, validate: bool = True) -> None:
        """Validate the whole tree (paths, ``liqmap check``), carry the user's files, swap it in."""
        out_dir, tmp, names = self.out_dir, self.root, self.names
        validate_paths(names)  # case-fold and file/folder collisions across every part
        kept = self.check_kept(names)
        if kept:
            log.info("keeping %d file(s) in %s that liqmap did not write: %s", len(kept), out_dir,
                     ", ".join(kept[:MAX_PROBLEMS_SHOWN]))
        try:
            marker = {"files": len(names), "written": sorted(names)}
            (tmp / MARKER).write_text(json.dumps(marker) + "\n", encoding="utf-8")
            os.chmod(tmp / MARKER, 0o644)
            _open_folders(tmp, names)
            if validate:
                from sitegen.site.check import check_site

                problems = check_site(tmp)
                if problems:
                    shown = "\n  ".join(problems[:MAX_PROBLEMS_SHOWN])
                    more = len(problems) - MAX_PROBLEMS_SHOWN
                    tail = f"\n  ... and {more} more" if more > 0 else ""
                    raise BuildError(
                        f"the new site failed validation, {out_dir} was left unchanged "
                        f"({len(problems)} problems):\n  {shown}{tail}"
                    )
            # after validation: what the user keeps there is theirs, not the site's to check
            _link_kept(out_dir, tmp, kept)
            _swap_in(tmp, out_dir)
        except OSError as e:
            raise BuildError(os_problem(e, out_dir)) from None
        finally:
            self.close()


def _open_folders(root: Path, names: Iterable[str]) -> None:
    """Folders world-readable (mkdtemp and a strict umask make 0700; Pages needs them readable)."""
    folders = {root} | {root.joinpath(*rel.split("/")[:i]) for rel in names for i in range(1, rel.count("/") + 1)}
    for d in folders:
        os.chmod(d, 0o755)


def os_problem(error: OSError, out_dir: Path) -> str:
    """One line for a failed write of the site: where, why, what to do; the old tree is intact."""
    where = error.filename or out_dir
    kept = f"{out_dir} was left as it was" if out_dir.exists() else "nothing was written"
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return (f"{where}: the disk is full ({error.strerror}) while writing the site; {kept}. "
                f"Free space on the disk holding {out_dir.parent} and build again")
    if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return (f"{where}: cannot write there ({error.strerror}); {kept}. Make "
                f"{_first_existing(out_dir.parent)} writable or choose another --out")
    return f"{where}: cannot write the site ({error.strerror or error}); {kept}. Check --out"


def _first_existing(path: Path) -> Path:
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def _refuse_foreign(out_dir: Path) -> None:
    if _is_replaceable(out_dir):
        return
    shown = ""
    if out_dir.is_dir() and not out_dir.is_symlink():
        entries = sorted(e.name for e in out_dir.iterdir())
        shown = f" (it holds {', '.join(entries[:5])}{', ...' if len(entries) > 5 else ''})"
    raise BuildError(
        f"{out_dir}: exists and is not a site written by liqmap (no {MARKER} file){shown}; "
        "refusing to replace it, nothing was changed. Choose another --out, or empty that "
        "folder yourself (files such as CNAME can be put back after the first build: "
        "later builds keep them)."
    )


def _swap_in(tmp: Path, out_dir: Path) -> None:
    if not out_dir.exists():
        os.rename(tmp, out_dir)
        return
    if _exchange(tmp, out_dir):
        # tmp now holds the previous tree
        shutil.rmtree(tmp, ignore_errors=True)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-{_OLD}-{os.getpid()}-", dir=out_dir.parent))
    os.rmdir(old)
    os.rename(out_dir, old)
    try:
        os.rename(tmp, out_dir)
    except OSError:
        os.rename(old, out_dir)
        raise
    shutil.rmtree(old, ignore_errors=True)
