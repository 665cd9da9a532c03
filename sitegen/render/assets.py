"""Packaged templates and static files, and the shared BokehJS copy.

In a wheel, ``templates/`` and ``static/`` are force-included as ``sitegen/templates`` and
``sitegen/static``; in a source checkout they are the top-level folders of the repository.
Everything is read through :mod:`importlib.resources` (or the repository path), never written.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

import bokeh
from jinja2 import Environment, FunctionLoader, StrictUndefined, select_autoescape

from sitegen.errors import BuildError

_REPO_ROOT = Path(__file__).resolve().parents[2]


def resource_dir(name: str) -> Traversable:
    """``sitegen/<name>`` inside an installed package, else ``<repo>/<name>``."""
    packaged = resources.files("sitegen").joinpath(name)
    if packaged.is_dir():
        return packaged
    repo = _REPO_ROOT / name
    if repo.is_dir():
        return repo
    raise BuildError(
        f"cannot find the '{name}' folder (looked in the sitegen package and in {repo}); "
        "reinstall liqmap or run from a complete source checkout"
    )


def _walk(root: Traversable, prefix: str = "") -> list[tuple[str, Traversable]]:
    out: list[tuple[str, Traversable]] = []
    for child in sorted(root.iterdir(), key=lambda c: c.name):
        if child.name.startswith(".") or child.name == "__pycache__":
            continue
        rel = f"{prefix}{child.name}"
        if child.is_dir():
            out.extend(_walk(child, rel + "/"))
        else:
            out.append((rel, child))
    return out


@cache
def static_files() -> dict[str, bytes]:
    """Every file of ``static/`` as {path relative to static/: bytes}."""
    return {rel: ref.read_bytes() for rel, ref in _walk(resource_dir("static"))}


def _load_template(name: str) -> str | None:
    ref = resource_dir("templates").joinpath(*name.split("/"))
    return ref.read_text(encoding="utf-8") if ref.is_file() else None


@cache
def jinja_env() -> Environment:
    """The page environment: autoescape on, undefined variables are errors."""
    env = Environment(
        loader=FunctionLoader(_load_template),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env


BOKEH_VERSION: str = bokeh.__version__
BOKEH_STATIC_DIR = f"static/bokeh/{BOKEH_VERSION}"


def bokeh_js_name(url: str) -> str:
    """``.../bokeh-widgets-3.9.2.min.js`` -> ``bokeh-widgets.min.js`` (the wheel's file name)."""
    base = url.rsplit("/", 1)[-1].split("?")[0]
    return re.sub(r"-\d+\.\d+\.\d+[^.]*(?=\.min\.js$)", "", base)


def bokeh_js_file(name: str) -> bytes:
    """The BokehJS bundle ``name`` shipped inside the installed bokeh package."""
    path = Path(bokeh.__file__).parent / "server" / "static" / "js" / name
    try:
        return path.read_bytes()
    except OSError as e:
        raise BuildError(f"{path}: BokehJS bundle missing from the bokeh package ({e}); reinstall bokeh") from None
