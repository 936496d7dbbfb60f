"""The installed X-ARES version, on the ground floor: results and HTTP requests name it."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("xares")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
