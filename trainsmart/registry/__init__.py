"""The registry contract between stages: bundles, input contracts, production and candidate
pointers."""

from trainsmart.registry.bundle import Bundle, Lineage
from trainsmart.registry.contract import FeatureSpec, InputContract
from trainsmart.registry.store import AuditEntry, Candidate, Registry

__all__ = [
    "AuditEntry",
    "Bundle",
    "Candidate",
    "FeatureSpec",
    "InputContract",
    "Lineage",
    "Registry",
]
