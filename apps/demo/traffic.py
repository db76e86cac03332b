"""Replay rows against the real service, send feedback, and keep score per version."""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class Score:
    """Rows answered and answered correctly, per (phase, version)."""

    served: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    correct: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    failed_requests: int = 0
    requests: int = 0
    feedback_sent: int = 0

    def accuracy(self, phase: str, version: str) -> float | None:
        n = self.served.get((phase, version), 0)
        return None if n == 0 else self.correct[(phase, version)] / n

    def versions(self, phase: str) -> list[str]:
        return sorted({v for p, v in self.served if p == phase}, key=lambda v: int(v[1:]))


class TrafficReplayer:
    """Sends rows in small batches to /predict and a share of true labels to /feedback.

    Example::

        replayer = TrafficReplayer(client, seed=1)
        last_version = replayer.replay("shifted", rows, labels, batch=10, feedback_share=0.8)
    """

    def __init__(self, client: httpx.Client, seed: int = 1) -> None:
        self.client = client
        self.score = Score()
        self._rng = random.Random(seed)

    def replay(
        self,
        phase: str,
        rows: list[dict[str, Any]],
        labels: list[str],
        *,
        batch: int = 10,
        feedback_share: float = 0.8,
    ) -> str | None:
        """Send ``rows``; return the version that answered the last request."""
        version: str | None = None
        for start in range(0, len(rows), batch):
            chunk, truth = rows[start : start + batch], labels[start : start + batch]
            self.score.requests += 1
            response = self.client.post("/predict", json={"instances": chunk})
            if response.status_code != 200:
                self.score.failed_requests += 1
                continue
            body = response.json()
            version = str(body["version"])
            for i, (pred, label) in enumerate(zip(body["predictions"], truth, strict=True)):
                self.score.served[(phase, version)] += 1
                self.score.correct[(phase, version)] += int(pred["class"] == label)
                if self._rng.random() < feedback_share:
                    self.send_feedback(body["request_id"], i, label)
        return version

    def send_feedback(self, request_id: str, row_index: int, label: str) -> None:
        self.score.requests += 1
        response = self.client.post(
            "/feedback", json={"request_id": request_id, "row_index": row_index, "label": label}
        )
        if response.status_code != 200:
            self.score.failed_requests += 1
        else:
            self.score.feedback_sent += 1
