"""Bokeh figures and Jinja pages: the only package that imports bokeh and jinja2.

``render_site(site, standalone=False) -> {relative path: bytes}`` is the whole interface.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sitegen.report import SiteData


def render_site(site: SiteData, *, standalone: bool = False) -> dict[str, bytes]:
    """Every file of the site as {relative posix path: bytes}; see :mod:`sitegen.render.pages`."""
    from sitegen.render.pages import render_site as _render_site

    return _render_site(site, standalone=standalone)


__all__ = ["render_site"]
