"""``trainsmart gpu``: measure where and how a version runs on this machine's GPU.

``trainsmart gpu calibrate`` times the version on the CPU and on CUDA at batch sizes 1 to
8192, measures exact fp32, TF32 and fp16 on CUDA against CPU fp32 (parity, agreement,
metric drop on the test split), chooses the fastest precision within
``training.compression.max_metric_drop`` and the row count from which it beats the CPU,
and writes them to ``data_dir/gpu/<model>/<version>.json``, which the service reads when
it loads the version (docs/gpu.md). Without CUDA it says so in one line and exits 1.
"""

from __future__ import annotations

import click

from apps.cli.context import AppContext, TrainsmartGroup


@click.group(cls=TrainsmartGroup)
def gpu() -> None:
    """Measure the model on this machine's GPU: from which batch size CUDA beats the CPU,
    and in which precision it serves."""


@gpu.command()
@click.option("--version", default=None, help="Version to measure (default: production).")
@click.option(
    "--repeats",
    type=click.IntRange(min=1),
    default=30,
    show_default=True,
    help="Timed calls per session and batch size (after a warm-up); the median is kept.",
)
@click.pass_obj
def calibrate(app: AppContext, version: str | None, repeats: int) -> None:
    """Time the version on CPU and CUDA, choose the GPU precision within the metric budget
    and the threshold from which CUDA serves; the service applies it at its next load."""
    # lazy: onnxruntime, the training stage and the dataset, only for this command
    from apps.gpu import calibrate as run_calibration
    from apps.gpu import markdown
    from serving.gpu_profile import profile_path

    profile = run_calibration(app.settings, app.registry, version, repeats=repeats)
    click.echo("\n".join(markdown(profile)))
    where = profile_path(app.settings.paths.gpu, profile.model, profile.version)
    click.echo(
        f"\nwritten to {where}; a service applies it when it loads the version: restart the "
        "ones already serving it"
    )
