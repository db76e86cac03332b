"""Load registered bundles into ONNX Runtime and swap them in without failing a request.

The production model is one immutable ``LoadedModel`` object; a request takes
a reference to it once and uses it to the end, so a swap (one attribute
assignment) never mixes two versions inside one response. The registry's
candidate, when one is set, is loaded the same way beside it (``LoadedCandidate``):
same verification, and a refused candidate never touches production.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import onnxruntime as ort

from serving.cuda import CudaRoute, open_route
from serving.providers import CPU, GpuSetup, session_options
from serving.settings import ServingSettings
from trainsmart.errors import NotReady, RegistryError, TrainsmartError
from trainsmart.registry import InputContract, Registry

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedModel:
    """One version ready to answer: its CPU session, its contract and, where CUDA serves
    large calls, its CUDA route (serving/cuda.py)."""

    name: str
    version: str
    contract: InputContract
    session: ort.InferenceSession
    loaded_at: float
    cuda: CudaRoute | None = None

    def predict_proba(self, matrix: np.ndarray) -> np.ndarray:
        session = self.session if self.cuda is None else self.cuda.pick(self.session, len(matrix))
        (probs,) = session.run([self.contract.output_name], {self.contract.input_name: matrix})
        return np.asarray(probs)


@dataclass(frozen=True)
class LoadedCandidate:
    """The candidate version loaded beside production; with ``shadow`` every production
    request is mirrored to it (serving/shadow.py)."""

    model: LoadedModel
    shadow: bool


def load_model(
    registry: Registry,
    name: str,
    version: str,
    settings: ServingSettings,
    gpu: GpuSetup | None = None,
) -> LoadedModel:
    """Verify a bundle's checksums and contract, then open it in ONNX Runtime: on the CPU,
    and on CUDA beside it as ``serving.device`` and this machine allow (``gpu``)."""
    gpu = gpu or GpuSetup()
    bundle = registry.get(name, version)
    bundle.verify()
    contract = bundle.contract()
    options = session_options(settings)
    try:
        session = gpu.open_session(str(bundle.model_path), options, [CPU])
    except Exception as exc:  # onnxruntime raises its own non-exported exception types
        raise RegistryError(
            f"{name}:{version}: ONNX Runtime cannot load model.onnx ({exc})"
        ) from exc
    inputs = {i.name: i for i in session.get_inputs()}
    outputs = {o.name for o in session.get_outputs()}
    spec = inputs.get(contract.input_name)
    if spec is None or contract.output_name not in outputs:
        raise RegistryError(
            f"{name}:{version}: the model's tensors {sorted(inputs)} -> {sorted(outputs)} do not "
            f"match the contract ({contract.input_name} -> {contract.output_name})"
        )
    width = spec.shape[-1] if spec.shape else None
    if isinstance(width, int) and width != len(contract.features):
        raise RegistryError(
            f"{name}:{version}: the model takes {width} features, the contract names "
            f"{len(contract.features)}"
        )
    model = LoadedModel(name, version, contract, session, time.time())
    probe = np.zeros((2, len(contract.features)), dtype=np.float32)
    width = 1 if contract.task == "regression" else len(contract.classes)
    shape = model.predict_proba(probe).shape
    if shape != (2, width):
        expected = (
            "one value per row"
            if contract.task == "regression"
            else "one probability per contract class"
        )
        raise RegistryError(
            f"{name}:{version}: the model returns shape {list(shape)} for 2 rows; expected "
            f"[2, {width}] ({expected})"
        )
    cuda = open_route(bundle, session, len(contract.features), settings, options, gpu)
    return model if cuda is None else dataclasses.replace(model, cuda=cuda)


class ModelHolder:
    """Holds the production model of one name, and its candidate, following the registry.

    Example::

        holder = ModelHolder(registry, "fair", settings.serving)
        holder.refresh()            # loads the production version and candidate, if any
        holder.current().version    # "v1"
        holder.candidate()          # LoadedCandidate(model=<v2>, shadow=True) or None
    """

    def __init__(
        self,
        registry: Registry,
        name: str,
        settings: ServingSettings,
        on_swap: Callable[[LoadedModel], None] | None = None,
        on_candidate: Callable[[LoadedCandidate | None], None] | None = None,
        gpu: GpuSetup | None = None,
    ) -> None:
        self.registry = registry
        self.name = name
        self.settings = settings
        self.gpu = gpu or GpuSetup()
        """How versions are opened on CUDA (measurements, row counters); default: none read."""
        self.on_swap = on_swap
        """Called after each production swap (metrics), from the thread that swapped."""
        self.on_candidate = on_candidate
        """Called when the loaded candidate or its shadow flag changes (None: unloaded)."""
        self._current: LoadedModel | None = None
        self._candidate: LoadedCandidate | None = None
        self._refused: dict[str, float] = {}
        self._preloaded: LoadedModel | None = None
        self._lock = threading.Lock()

    def current(self) -> LoadedModel:
        model = self._current
        if model is None:
            raise NotReady(
                f"no production version of '{self.name}' is loaded yet; train and promote one "
                "('trainsmart train', 'trainsmart models promote')"
            )
        return model

    def candidate(self) -> LoadedCandidate | None:
        """The loaded candidate, or None when none is set (or it was refused)."""
        return self._candidate

    @property
    def ready(self) -> bool:
        return self._current is not None

    def refresh(self, preloaded: LoadedModel | None = None) -> bool:
        """Follow the registry: load the production version if it changed, then load,
        update or unload the candidate. True if production was swapped. ``preloaded``:
        a version the caller has just loaded and verified (the admin API), used as is."""
        with self._lock:
            self._preloaded = preloaded
            try:
                swapped = self._refresh_production()
                self._refresh_candidate()
            finally:
                self._preloaded = None
            return swapped

    def _refresh_production(self) -> bool:
        version = self.registry.production(self.name)
        current = self._current
        if version is None or (current is not None and current.version == version):
            return False
        candidate = self._candidate
        if candidate is not None and candidate.model.version == version:
            loaded: LoadedModel | None = candidate.model  # the promoted candidate, already open
        else:
            kept = current.version if current else "nothing"
            loaded = self._load(version, f"still serving {kept}")
        if loaded is None:
            return False
        self._current = loaded
        if self.on_swap is not None:
            self.on_swap(loaded)
        logger.info(
            "now serving %s:%s (was %s)",
            self.name,
            version,
            current.version if current else "none",
        )
        return True

    def _refresh_candidate(self) -> None:
        pointer = self.registry.candidate(self.name)
        loaded = self._candidate
        production = self._current.version if self._current else None
        if pointer is None or pointer.version == production:
            if loaded is not None:
                why = "cleared" if pointer is None else "it is the production version now"
                logger.info("candidate %s:%s unloaded (%s)", self.name, loaded.model.version, why)
                self._set_candidate(None)
            return
        if loaded is not None and loaded.model.version == pointer.version:
            if loaded.shadow != pointer.shadow:
                self._set_candidate(LoadedCandidate(loaded.model, pointer.shadow))
                logger.info(
                    "candidate %s:%s: shadow %s",
                    self.name,
                    pointer.version,
                    "on" if pointer.shadow else "off",
                )
            return
        model = self._load(pointer.version, f"production {production or 'none'} is unaffected")
        if model is None:  # refused; an older candidate is no longer the one asked for
            self._set_candidate(None)
            return
        self._set_candidate(LoadedCandidate(model, pointer.shadow))
        logger.info(
            "candidate %s:%s loaded beside production %s (shadow %s)",
            self.name,
            pointer.version,
            production or "none",
            "on" if pointer.shadow else "off",
        )

    def _load(self, version: str, consequence: str) -> LoadedModel | None:
        """Load and verify ``version``; None if refused (then not retried for 60 s)."""
        if self._preloaded is not None and self._preloaded.version == version:
            return self._preloaded
        refused_at = self._refused.get(version)
        if refused_at is not None and time.time() - refused_at < 60.0:
            return None
        try:
            return self.open(version)
        except TrainsmartError as exc:
            self._refused[version] = time.time()
            logger.error("refused %s:%s, %s: %s", self.name, version, consequence, exc)
            return None

    def open(self, version: str) -> LoadedModel:
        """Load and verify ``version`` as this holder loads versions (raises if refused)."""
        return load_model(self.registry, self.name, version, self.settings, self.gpu)

    def _set_candidate(self, candidate: LoadedCandidate | None) -> None:
        if candidate is None and self._candidate is None:
            return
        self._candidate = candidate
        if self.on_candidate is not None:
            self.on_candidate(candidate)


class Reloader:
    """A daemon thread that calls ``holder.refresh()`` every ``interval_s`` seconds."""

    def __init__(self, holder: ModelHolder, interval_s: float) -> None:
        self.holder = holder
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="trainsmart-reloader", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.holder.refresh()
            except Exception:  # the loop must survive a broken registry read
                logger.exception(
                    "checking the production and candidate pointers failed; will retry"
                )
