"""Load registered bundles into ONNX Runtime and swap them in without failing a request.

The production model is one immutable ``LoadedModel`` object; a request takes
a reference to it once and uses it to the end, so a swap (one attribute
assignment) never mixes two versions inside one response.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import onnxruntime as ort

from serving.settings import ServingSettings
from trainsmart.errors import NotReady, RegistryError, TrainsmartError
from trainsmart.registry import InputContract, Registry

logger = logging.getLogger(__name__)


OPTIMIZATION = {
    "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}
"""``serving.ort_graph_optimization`` -> ONNX Runtime's level."""


def choose_providers() -> list[str]:
    """CUDA when onnxruntime-gpu sees a GPU, else CPU (said once in the log)."""
    available = ort.get_available_providers()
    if "CUDAExecutionProvider" in available:
        logger.info("ONNX Runtime: serving on CUDAExecutionProvider")
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    logger.info("ONNX Runtime: no CUDA provider available, serving on CPU")
    return ["CPUExecutionProvider"]


@dataclass(frozen=True)
class LoadedModel:
    """One version ready to answer: its session and its contract."""

    name: str
    version: str
    contract: InputContract
    session: ort.InferenceSession
    loaded_at: float

    def predict_proba(self, matrix: np.ndarray) -> np.ndarray:
        (probs,) = self.session.run([self.contract.output_name], {self.contract.input_name: matrix})
        return np.asarray(probs)


def load_model(
    registry: Registry, name: str, version: str, settings: ServingSettings
) -> LoadedModel:
    """Verify a bundle's checksums and contract, then open it in ONNX Runtime."""
    bundle = registry.get(name, version)
    bundle.verify()
    contract = bundle.contract()
    options = ort.SessionOptions()
    if settings.ort_intra_op_threads:
        options.intra_op_num_threads = settings.ort_intra_op_threads
    if settings.ort_inter_op_threads:
        options.inter_op_num_threads = settings.ort_inter_op_threads
    options.graph_optimization_level = OPTIMIZATION[settings.ort_graph_optimization]
    try:
        session = ort.InferenceSession(
            str(bundle.model_path), sess_options=options, providers=choose_providers()
        )
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
    return model


class ModelHolder:
    """Holds the production model of one name and follows the registry's pointer.

    Example::

        holder = ModelHolder(registry, "fair", settings.serving)
        holder.refresh()            # loads the production version, if any
        holder.current().version    # "v1"
    """

    def __init__(
        self,
        registry: Registry,
        name: str,
        settings: ServingSettings,
        on_swap: Callable[[LoadedModel], None] | None = None,
    ) -> None:
        self.registry = registry
        self.name = name
        self.settings = settings
        self.on_swap = on_swap
        """Called after each swap (metrics), from the thread that swapped."""
        self._current: LoadedModel | None = None
        self._refused: dict[str, float] = {}
        self._lock = threading.Lock()

    def current(self) -> LoadedModel:
        model = self._current
        if model is None:
            raise NotReady(
                f"no production version of '{self.name}' is loaded yet; train and promote one "
                "('trainsmart train', 'trainsmart models promote')"
            )
        return model

    @property
    def ready(self) -> bool:
        return self._current is not None

    def refresh(self) -> bool:
        """Load the production version if it changed; True if a swap happened."""
        with self._lock:
            version = self.registry.production(self.name)
            current = self._current
            if version is None or (current is not None and current.version == version):
                return False
            refused_at = self._refused.get(version)
            if refused_at is not None and time.time() - refused_at < 60.0:
                return False
            try:
                loaded = load_model(self.registry, self.name, version, self.settings)
            except TrainsmartError as exc:
                self._refused[version] = time.time()
                kept = current.version if current else "nothing"
                logger.error("refused %s:%s, still serving %s: %s", self.name, version, kept, exc)
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
                logger.exception("checking the production pointer failed; will retry")
