"""Benchmarks (`make bench`): side-by-side ratios measured in one run, written to docs/benchmarks.md."""
