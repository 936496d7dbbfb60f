"""X-ARES: the eXtensive Audio Representation and Evaluation Suite.

`xares.evaluate(encoder, tasks, **options)` runs the benchmark from Python (see xares.api); it is
imported on first use, so that `import xares` stays cheap for the command line and the workers.
"""

from typing import Any

from xares.version import __version__

__all__ = ["Results", "__version__", "evaluate"]


def __getattr__(name: str) -> Any:
    if name in ("evaluate", "Results"):
        from xares import api

        return getattr(api, name)
    raise AttributeError(f"module 'xares' has no attribute {name!r}")
