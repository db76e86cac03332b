"""Benchmarks (`make bench`): side-by-side ratios from one run, in docs/benchmarks.md."""
