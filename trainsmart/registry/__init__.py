"""The registry contract between stages: bundles, input contracts, production pointers."""

from trainsmart.registry.bundle import Bundle, Lineage
from trainsmart.registry.contract import FeatureSpec, InputContract
from trainsmart.registry.store import AuditEntry, Registry

__all__ = ["AuditEntry", "Bundle", "FeatureSpec", "InputContract", "Lineage", "Registry"]
