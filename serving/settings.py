"""Settings of the prediction service (a section of ``trainsmart.settings``)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

PosInt = Annotated[int, Field(gt=0)]


class ServingSettings(BaseModel):
    """The BentoML service: ports, hot swap, cache and request limits."""

    host: str = "127.0.0.1"
    """Interface `trainsmart serve` binds."""
    port: Annotated[int, Field(ge=0, le=65535)] = 3000
    """Port `trainsmart serve` binds."""
    workers: PosInt = 1
    """BentoML worker processes."""
    reload_interval_s: Annotated[float, Field(gt=0.0)] = 2.0
    """How often the service checks the production pointer for a new version."""
    cache_enabled: bool = True
    """In-process LRU cache of predictions, keyed by model, version and row."""
    cache_size: PosInt = 10_000
    """Rows kept in the LRU cache."""
    cache_ttl_s: Annotated[float, Field(ge=0.0)] = 0.0
    """Seconds an entry stays valid; 0 keeps it until evicted."""
    max_rows_per_request: PosInt = 1000
    """Requests with more rows get a 413 (/predict and /v2 infer)."""
    max_body_bytes: PosInt = 8 * 1024 * 1024
    """Largest request body accepted, in bytes (default 8 MiB); a larger one gets a 413."""
    ort_intra_op_threads: Annotated[int, Field(ge=0)] = 0
    """ONNX Runtime intra-op threads; 0 lets ONNX Runtime choose."""
