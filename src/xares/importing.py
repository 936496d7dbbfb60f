"""Importing a Python file by its path: encoder files, task files, HEAR modules given as files.

Its own module on the ground floor, so that the encoder loader and the HEAR wrapper it calls both use
it without importing each other."""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from pathlib import Path
from typing import Any


def import_file(path: str | Path, *, purpose: str) -> Any:
    """Import a Python file by path. The file is executed as code: only load files you trust."""
    path = Path(path).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"{purpose} file not found: {path}")
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:10]
    module_name = f"_xares_user_{path.stem}_{digest}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {purpose} file {path}: not a Python source file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    return module
