"""Paths of the data files shipped inside the package (``evolvelab/data/``).

From a plain install or a checkout the file is already on disk and its path is returned
as is; from a zipped install it is extracted to a temporary file that lives until the
process exits.
"""

from __future__ import annotations

import atexit
from contextlib import ExitStack
from importlib.resources import as_file, files
from pathlib import Path

__all__ = ["bundled_path"]

_files = ExitStack()
atexit.register(_files.close)


def bundled_path(name: str) -> Path:
    """Return a filesystem path of ``evolvelab/data/<name>``."""
    resource = files("evolvelab").joinpath("data", name)
    if isinstance(resource, Path):
        return resource
    return Path(_files.enter_context(as_file(resource)))
