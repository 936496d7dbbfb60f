"""Builders of the real-recording suite: Debian package files in, X-ARES shards out (issue 18)."""
