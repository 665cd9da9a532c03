"""liqmap: open, measured crypto liquidation heatmaps as a static site."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("liqmap")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+local"
