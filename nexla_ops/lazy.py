"""Package attributes imported on first use (PEP 562), so that importing a package, or one of
its modules, does not import all of its siblings: a command's --help stays fast."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_exports(package: str, namespace: dict, exports: dict[str, str]) -> Callable[[str], Any]:
    """A module-level __getattr__ for `package`: `exports` maps each public name to the
    submodule defining it; a submodule's own name works too. Found values are cached in the
    package's `namespace` (its globals()), so each is looked up once. A name that is also a
    submodule's must be imported eagerly instead: importing that submodule binds its name in
    the package, which would then hide the export."""

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            try:  # a submodule by attribute (package.cli), as after `import package.cli`
                return importlib.import_module(f"{package}.{name}")
            except ModuleNotFoundError as exc:
                if exc.name != f"{package}.{name}":
                    raise
                raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        namespace[name] = value
        return value

    return __getattr__
