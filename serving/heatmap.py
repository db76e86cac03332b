"""An image model's attribution maps as one PNG (``POST /explain?format=png``).

One row of panels per explained image: the image as sent, and the attribution map of its
likeliest class (summed over channels; red raises the class's probability, blue lowers it,
on a scale symmetric around 0). Drawn on a matplotlib ``Figure`` with the Agg canvas, never
through pyplot. Imported only for a PNG request (matplotlib is not loaded otherwise).
"""

from __future__ import annotations

import io

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from serving.explainers import Attribution
from trainsmart.registry import InputContract


def attribution_png(contract: InputContract, matrix: np.ndarray, attribution: Attribution) -> bytes:
    """The PNG of ``attribution`` for the image rows ``matrix`` (contract order)."""
    c, h, w = contract.image_shape or (1, 1, len(contract.features))
    n = len(matrix)
    figure = Figure(figsize=(6.0, 2.8 * n), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    axes = np.asarray(figure.subplots(n, 2, squeeze=False))
    regression = contract.task == "regression"
    for i in range(n):
        image = matrix[i].reshape(c, h, w).astype(np.float64)
        k = 0 if regression else int(np.argmax(attribution.output[i]))
        heat = attribution.values[i, :, k].reshape(c, h, w).sum(axis=0)
        shown, ax_image, ax_heat = _display(image), axes[i, 0], axes[i, 1]
        ax_image.imshow(shown, cmap="gray" if c == 1 else None)
        what = "value" if regression else f"class {contract.classes[k]}"
        output = float(attribution.output[i, k])
        ax_image.set_title(f"row {i}: {what} ({output:.3g})", fontsize="small")
        scale = float(np.abs(heat).max()) or 1.0
        drawn = ax_heat.imshow(heat, cmap="RdBu_r", vmin=-scale, vmax=scale)
        ax_heat.set_title(f"attribution to {what}", fontsize="small")
        figure.colorbar(drawn, ax=ax_heat, shrink=0.8)
        for ax in (ax_image, ax_heat):
            ax.set_xticks([])
            ax.set_yticks([])
    buffer = io.BytesIO()
    try:
        figure.savefig(buffer, format="png", metadata={"Software": None})
    finally:
        figure.clear()
    return buffer.getvalue()


def _display(image: np.ndarray) -> np.ndarray:
    """[c, h, w] -> what imshow draws: [h, w] for one channel, [h, w, 3] scaled to 0..1."""
    if image.shape[0] == 1:
        return image[0]
    rgb = image.transpose(1, 2, 0)
    low, high = float(np.nanmin(rgb)), float(np.nanmax(rgb))
    return (rgb - low) / (high - low) if high > low else np.zeros_like(rgb)
