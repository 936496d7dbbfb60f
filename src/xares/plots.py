"""Moved to xares.report.plots; this name stays for old imports."""

from xares.report.plots import *  # noqa: F403
