"""Which files in a directory are deployments: shared by `deploy_flow --config-dir` and
`health_check --deployments`, so both read the same set. Light: no pydantic, no SDK."""

from __future__ import annotations

import os

SUFFIXES = (".json", ".yaml", ".yml")


def deployment_file_names(directory: str) -> list[str]:
    """The deployment files directly in `directory` (by suffix, any case; hidden files left
    out, as a shell glob would), sorted by name. OSError (FileNotFoundError,
    NotADirectoryError, PermissionError) as os.scandir raises it."""
    with os.scandir(directory) as entries:
        return sorted(os.path.join(directory, entry.name) for entry in entries
                      if not entry.name.startswith(".") and entry.name.lower().endswith(SUFFIXES))
