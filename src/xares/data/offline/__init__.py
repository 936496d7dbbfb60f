"""Offline starter suite: task audio synthesised on this machine from a seed, so X-ARES can be tried,
tested and benchmarked without downloading anything. Each generator writes upstream-format shards."""
