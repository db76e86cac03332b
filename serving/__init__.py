"""Serve the production model: validate, predict, cache, log, hot swap, export metrics.

This package must never import torch, tensorflow or evidently (tested).
"""
