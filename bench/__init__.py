"""Benchmarks behind `make bench`: ratios measured side by side, and counts (never raw timings)."""
