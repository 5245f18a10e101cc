"""The version DIP Studio reports (``--version``, Help > About). No Qt, no torch: ``dip
--version`` answers without a display and in a fraction of a second."""
from __future__ import annotations

from importlib import metadata

DISTRIBUTION = "dip-studio"   # pyproject's [project] name; its version is the one home of the number


def version() -> str:
    """The installed distribution's version (an editable install counts); 'unknown' when
    this code runs from a checkout that was never installed."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "unknown (not installed: pip install -e .)"
