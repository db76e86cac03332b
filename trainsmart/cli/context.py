"""What every command shares: settings, the state database, the registry, a console."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from rich.console import Console

from trainsmart.registry import Registry
from trainsmart.settings import Settings, load_settings
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
