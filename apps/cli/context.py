"""What every command shares: settings, the state database, the registry, a console
(:class:`AppContext`); the settings read before a command runs and every error printed
as one line (:class:`TrainsmartCommand`, :class:`TrainsmartGroup`).

Exit statuses: :data:`CONFIG_EXIT` (2, as click's usage errors) for settings that cannot
be read or validated, :data:`ERROR_EXIT` (1) for any other
:class:`~trainsmart.errors.TrainsmartError`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, NoReturn

import click
from pydantic import ValidationError
from rich.console import Console

from apps.settings import Settings, load_settings
from trainsmart.errors import ConfigError, TrainsmartError
from trainsmart.registry import Registry
from trainsmart.settings import describe
from trainsmart.state import Database, InputLog, JobStore, open_database


@dataclass
class AppContext:
    """Lazily built objects for one CLI invocation."""

    config: Path | None = None
    console: Console = field(default_factory=lambda: Console(stderr=True))

    @cached_property
    def settings(self) -> Settings:
        return load_settings(self.config)

    @cached_property
    def db(self) -> Database:
        return open_database(self.settings)

    @cached_property
    def registry(self) -> Registry:
        return Registry(self.settings.paths.model_store, self.db)

    @cached_property
    def input_log(self) -> InputLog:
        return InputLog(self.db)

    @cached_property
    def jobs(self) -> JobStore:
        return JobStore(self.db)


CONFIG_EXIT = 2
"""Exit status of a settings error (as of a usage error)."""
ERROR_EXIT = 1
"""Exit status of any other error."""


def _read_settings_first(ctx: click.Context, enabled: bool) -> None:
    """Load (and so validate) the whole settings now, if this command reads them."""
    app = ctx.find_object(AppContext)
    if enabled and app is not None:
        app.settings  # noqa: B018 (cached: the command gets this object)


class TrainsmartCommand(click.Command):
    """A command that reads the settings before it runs (``loads_settings=False``: only
    when its body asks), so that a settings error comes before any heavy import."""

    def __init__(self, *args: Any, loads_settings: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.loads_settings = loads_settings

    def invoke(self, ctx: click.Context) -> Any:
        _read_settings_first(ctx, self.loads_settings)
        return super().invoke(ctx)


class TrainsmartGroup(click.Group):
    """The ``trainsmart`` group and its sub-groups: settings read first like
    :class:`TrainsmartCommand`; every error raised below printed as one line."""

    command_class = TrainsmartCommand
    group_class = type  # sub-groups are TrainsmartGroups

    def __init__(self, *args: Any, loads_settings: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.loads_settings = loads_settings

    def invoke(self, ctx: click.Context) -> Any:
        try:
            _read_settings_first(ctx, self.loads_settings)  # the root: no AppContext yet
            return super().invoke(ctx)
        except ConfigError as exc:
            _fail(ctx, exc.message, CONFIG_EXIT)
        except ValidationError as exc:  # settings built in a command (a copy with updates)
            _fail(ctx, describe(exc), CONFIG_EXIT)
        except TrainsmartError as exc:
            _fail(ctx, exc.message, ERROR_EXIT)


def _fail(ctx: click.Context, message: str, status: int) -> NoReturn:
    click.echo(f"error: {' '.join(message.splitlines())}", err=True)
    ctx.exit(status)
