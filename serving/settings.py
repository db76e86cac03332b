"""Settings of the prediction service (a section of ``trainsmart.settings``)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from trainsmart.settings import CoreSettings, Section

PosInt = Annotated[int, Field(gt=0)]


class ServingSettings(Section):
    """The BentoML service: ports, hot swap, cache and request limits."""

    host: str = "127.0.0.1"
    """Interface `trainsmart serve` binds."""
    port: Annotated[int, Field(ge=0, le=65535)] = 3000
    """Port `trainsmart serve` binds."""
    workers: PosInt = 1
    """BentoML worker processes."""
    fast_path: bool = True
    """Send the prediction and feedback routes straight to trainsmart's app, past BentoML's
    per-request middleware (tracing, access log, its request metrics, timeout): about 4x
    the requests per second on one-row predictions (serving/fastpath.py). ``false``: every
    route through BentoML's full stack, e.g. to trace predictions."""
    reload_interval_s: Annotated[float, Field(gt=0.0)] = 2.0
    """How often the service checks the production pointer for a new version."""
    cache_backend: Literal["memory", "redis", "none"] = "memory"
    """Where predictions are cached, keyed by model, version and row: ``memory`` (an LRU
    in each worker process), ``redis`` (one cache shared by every worker and replica, at
    ``redis_url``; if Redis is down requests bypass it) or ``none``."""
    cache_enabled: bool = True
    """Older switch, kept for existing configs: ``false`` means ``cache_backend: none``.
    After validation it reads ``cache_backend != "none"``."""
    cache_size: PosInt = 10_000
    """Rows kept in each worker's LRU cache (``cache_backend: memory``)."""
    cache_ttl_s: Annotated[float, Field(ge=0.0)] = 0.0
    """Seconds an entry stays valid, for both backends (Redis: the key's expiry);
    0 keeps it until evicted (Redis: until its ``maxmemory-policy`` evicts it)."""
    redis_url: str = "redis://127.0.0.1:6379/0"
    """Redis server of ``cache_backend: redis``: ``redis://[[user]:password@]host:port/db``,
    ``rediss://`` for TLS, ``unix:///path/redis.sock``."""
    redis_timeout_s: Annotated[float, Field(gt=0.0, le=5.0)] = 0.05
    """Connect and read timeout of each Redis call, in seconds; past it the request
    bypasses the cache. Keep it well below the latency budget of a request."""
    redis_failure_threshold: PosInt = 3
    """Consecutive failed Redis calls that open the circuit breaker: requests then skip
    Redis without waiting for a timeout."""
    redis_reset_s: Annotated[float, Field(gt=0.0)] = 5.0
    """Seconds the breaker stays open before one probe call tries Redis again; a
    successful probe closes it and the cache resumes."""
    max_rows_per_request: PosInt = 1000
    """Requests with more rows get a 413 (/predict and /v2 infer)."""
    max_body_bytes: PosInt = 8 * 1024 * 1024
    """Largest request body accepted, in bytes (default 8 MiB); a larger one gets a 413."""
    inline_max_body_bytes: Annotated[int, Field(ge=0)] = 16 * 1024
    """Requests with a body up to this size are answered on the event loop, without the
    hop to a worker thread (which costs more than predicting a few rows); larger ones,
    and every request when batching, the Redis cache or a PostgreSQL database_url is on
    (they wait on others, or on the network), go to the thread pool. 0: always the
    thread pool."""
    ort_intra_op_threads: Annotated[int, Field(ge=0)] = 0
    """ONNX Runtime intra-op threads; 0 lets ONNX Runtime choose."""
    ort_inter_op_threads: Annotated[int, Field(ge=0)] = 0
    """ONNX Runtime inter-op threads (parallel branches of a graph); 0 lets it choose."""
    ort_graph_optimization: Literal["disable", "basic", "extended", "all"] = "all"
    """ONNX Runtime graph optimization level of the serving session."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """Where the model runs (serving/providers.py, docs/gpu.md). 'auto': calls of at least
    gpu_min_rows rows on CUDA when onnxruntime-gpu sees a GPU, smaller ones (and all of
    them without a GPU) on the CPU; 'cpu': always the CPU; 'cuda': every call on CUDA, and
    a version is refused (the service is not ready, the log says why) when CUDA cannot run."""
    gpu_min_rows: PosInt | None = None
    """Rows from which a call runs on CUDA (device 'auto'). None: the threshold `trainsmart
    gpu calibrate` measured for the version on this machine, else 256. Requests above
    max_rows_per_request (and batches above max_batch_rows) never reach it."""
    batching: bool = False
    """Adaptive batching: the cache misses of concurrent requests share one ONNX Runtime
    call (up to max_batch_rows), taken as soon as the model is free. Pays off for models
    whose per-call overhead dominates; see docs/benchmarks.md for this machine."""
    max_batch_rows: PosInt = 256
    """Largest batch of rows one model call takes when batching."""
    max_batch_wait_ms: Annotated[float, Field(ge=0.0, le=1000.0)] = 0.0
    """How long a batch waits for more rows before it runs (0: never waits; a batch is
    whatever queued while the previous call ran)."""
    explain_max_rows: PosInt = 16
    """Most rows one POST /explain takes (each costs hundreds of model calls); more: 413."""
    explain_timeout_s: Annotated[float, Field(gt=0.0)] = 10.0
    """Seconds an /explain request may take (waiting for a free explain thread included);
    past it the answer is 503 and the computation stops at its next model call. A
    version's first /explain in a worker also imports shap, reads its reference sample and
    compiles shap's kernels (seconds, once): if that is not done in time the answer is 503
    with Retry-After and the preparation goes on. Keep it below BentoML's request timeout
    (30 s)."""
    explain_background_rows: PosInt = 100
    """Rows of the version's reference sample that masked features are drawn from (the
    base value is the mean output over them); each costs one model row per evaluation."""
    explain_max_evals: PosInt = 500
    """Model evaluations per row for the sampled explainers (tables over 10 features:
    permutations; images: the partition of pixel blocks); tables up to 10 features are
    explained exactly (2**features evaluations)."""
    explain_concurrency: PosInt = 1
    """Explanations computed at once per worker, each in its own thread off the event
    loop; others wait for a thread (the wait counts against explain_timeout_s)."""

    shadow_queue_size: PosInt = 1000
    """Requests waiting to be mirrored to a shadow candidate, per worker. When the candidate
    falls behind, further mirrors are dropped (trainsmart_shadow_predictions_total
    result="dropped"); production requests never wait for the candidate."""
    admin_token: SecretStr | None = None
    """Bearer token of the /admin endpoints (reload, candidate, shadow, status). Unset (or
    empty), the admin endpoints are disabled and answer 403. Generate one with
    ``python -c 'import secrets; print(secrets.token_urlsafe(32))'``; set it with
    ``TRAINSMART_SERVING__ADMIN_TOKEN`` rather than in a committed file."""
    api_keys: list[SecretStr] = []
    """Keys that may call /predict, /feedback and /v2/.../infer, sent as
    ``Authorization: Bearer KEY`` or ``X-API-Key: KEY``. Empty (the default), those routes
    are open. Health, metadata and /metrics stay open either way. From the environment:
    ``TRAINSMART_SERVING__API_KEYS='["key1", "key2"]'``."""

    @field_validator("admin_token")
    @classmethod
    def _empty_token_is_unset(cls, token: SecretStr | None) -> SecretStr | None:
        if token is not None and not token.get_secret_value().strip():
            return None
        return token

    @field_validator("api_keys")
    @classmethod
    def _no_empty_keys(cls, keys: list[SecretStr]) -> list[SecretStr]:
        for i, key in enumerate(keys):
            if not key.get_secret_value().strip():
                raise ValueError(
                    f"api_keys[{i}] is empty; every key must be a non-empty string "
                    "(remove the entry, or leave api_keys empty to keep the routes open)"
                )
        return keys

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, url: str) -> str:
        if not url.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(
                f"'{url}' is not a Redis URL; write redis://host:6379/0 "
                "(rediss:// for TLS, unix:///path/redis.sock for a socket)"
            )
        return url

    @model_validator(mode="after")
    def _cache_switch(self) -> ServingSettings:
        """``cache_enabled: false`` (older configs) turns the cache off; keep both in step."""
        if not self.cache_enabled:
            self.cache_backend = "none"
        self.cache_enabled = self.cache_backend != "none"
        return self


class ServingScope(CoreSettings):
    """What the service reads: the shared keys and its own section."""

    serving: ServingSettings = ServingSettings()
    """The prediction service."""
