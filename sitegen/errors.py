"""Exceptions raised by the library; ``cli.py`` turns them into messages and exit codes."""


class LiqmapError(Exception):
    """Base class for every error liqmap reports to a user."""

    exit_code = 1


class ConfigError(LiqmapError):
    """The configuration file or a flag is wrong. The message says what, where and how to fix."""

    exit_code = 2


class SourceError(LiqmapError):
    """Market data could not be fetched or was unusable (network, geo-block, garbage)."""


class NotListed(SourceError):
    """The exchange does not list the symbol: it is skipped there, with a note (not a failure)."""


# How the fetch report, the store and the build say it: "not listed on okx".
NOT_LISTED = "not listed on"


def not_listed_note(exchange: str) -> str:
    return f"{NOT_LISTED} {exchange}"


class BuildError(LiqmapError):
    """The site could not be built or did not pass validation."""


class DataError(LiqmapError):
    """An input data file (e.g. the evaluation CSV) is malformed; the message lists the lines."""
