"""Detect drift on logged inputs and trigger retraining under a policy.

The service imports only ``monitoring.settings`` (through ``trainsmart.settings``),
which is light; Evidently is imported only by ``monitoring.drift``, and only when a
window is compared.
"""
