"""TensorBoard event files, written with tensorboard's record writer alone.

Imported only when ``training.tracking.tensorboard_dir`` is set. Neither
``torch.utils.tensorboard.SummaryWriter`` nor tensorboard's ``EventFileWriter`` is used:
both go through ``tensorboard.compat.tf``, which imports TensorFlow whenever it is
installed (the 'keras' extra), ~5 s and a few hundred MB for a handful of scalars. The
graph is the exported ONNX graph (what is served, for PyTorch and Keras alike), not a
torch.jit trace.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Mapping
from pathlib import Path
from typing import BinaryIO

from tensorboard.compat.proto.event_pb2 import Event
from tensorboard.compat.proto.graph_pb2 import GraphDef
from tensorboard.compat.proto.node_def_pb2 import NodeDef
from tensorboard.compat.proto.summary_pb2 import Summary
from tensorboard.summary.writer.record_writer import RecordWriter

from training.tracking.base import RunStatus, Tracker


class TensorBoardTracker(Tracker):
    """One TensorBoard run: a folder with one event file.

    Only metrics with a step (the epochs) become scalars; parameters, tags and files have
    no place in an event file and are left to MLflow.

    Example::

        run = TensorBoardTracker(Path("runs/tb/fair/20261204-101500-train"))
        run.log_metrics({"train_loss": 0.52, "val_loss": 0.55}, step=1)
        run.end()
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._file: BinaryIO | None = None
        self._writer: RecordWriter | None = None

    def _write(self, event: Event) -> None:
        if self._writer is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            name = f"events.out.tfevents.{int(time.time())}.{socket.gethostname()}"
            self._file = (self.folder / f"{name}.{os.getpid()}.{time.time_ns()}").open("wb")
            self._writer = RecordWriter(self._file)
            first = Event(wall_time=time.time(), file_version="brain.Event:2")
            self._writer.write(first.SerializeToString())
        self._writer.write(event.SerializeToString())
        self._writer.flush()  # `tensorboard` shows each epoch as it ends

    def child(
        self, name: str, tags: Mapping[str, str] | None = None, *, start_time: float | None = None
    ) -> Tracker:
        return TensorBoardTracker(self.folder / name.replace(" ", "-"))

    def log_params(self, params: Mapping[str, str]) -> None:
        pass

    def set_tags(self, tags: Mapping[str, str]) -> None:
        pass

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        if step is None or not metrics:
            return
        values = [Summary.Value(tag=k, simple_value=float(v)) for k, v in metrics.items()]
        self._write(Event(wall_time=time.time(), step=step, summary=Summary(value=values)))

    def log_artifacts(self, path: Path, artifact_path: str | None = None) -> None:
        pass

    def log_graph(self, onnx_path: Path) -> None:
        graph = onnx_graph(onnx_path)
        self._write(Event(wall_time=time.time(), graph_def=graph.SerializeToString()))

    def end(self, status: RunStatus = "FINISHED", *, end_time: float | None = None) -> None:
        if self._file is not None:
            self._file.close()
            self._file, self._writer = None, None

    def link(self) -> dict[str, str]:
        return {"tensorboard_run": str(self.folder)}


def onnx_graph(path: Path) -> GraphDef:
    """The ONNX model's operators as a TensorBoard graph: one node per graph input and
    per operator, edges from producer to consumer (weights left out)."""
    import onnx  # lazy: onnx protobufs, only when a graph is written

    graph = onnx.load(str(path), load_external_data=False).graph
    producer = {i.name: i.name for i in graph.input}
    nodes = [NodeDef(name=i.name, op="Input") for i in graph.input]
    for n, node in enumerate(graph.node):
        name = node.name or f"{node.op_type}_{n}"
        inputs = [producer[t] for t in node.input if t in producer]
        nodes.append(NodeDef(name=name, op=node.op_type, input=inputs))
        producer.update(dict.fromkeys(node.output, name))
    return GraphDef(node=nodes)
