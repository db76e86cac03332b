"""Detect drift on logged inputs and trigger retraining under a policy.

Evidently is imported only by ``monitoring.drift``; the service never imports
this package.
"""
