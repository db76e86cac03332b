"""Constrained types shared by the training settings sections."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

PosInt = Annotated[int, Field(gt=0)]
Fraction = Annotated[float, Field(gt=0.0, lt=1.0)]
