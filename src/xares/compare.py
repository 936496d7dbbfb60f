"""Moved to xares.report.compare; this name stays for old imports."""

from xares.report.compare import *  # noqa: F403
