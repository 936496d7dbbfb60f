"""Moved to xares.report.html; this name stays for old imports."""

from xares.report.html import *  # noqa: F403
