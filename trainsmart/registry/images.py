"""Image rows: ``{"image": [[...], ...]}`` in a request becomes the pixel features.

An image contract (``InputContract.image_shape = [c, h, w]``) names its features
``pixel_0 .. pixel_{c*h*w-1}`` in channel-row-column order. A request row may send
those fields, or one field ``image`` holding a nested list shaped ``[c][h][w]`` (or
``[h][w]`` when ``c`` is 1); :func:`expand_image_rows` turns the latter into the
former, so validation, the cache and the input log only ever see pixel rows.

Example::

    expand_image_rows([{"image": [[0, 1], [2, 3]]}], [1, 2, 2], "instances")
    # [{"pixel_0": 0, "pixel_1": 1, "pixel_2": 2, "pixel_3": 3}]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from trainsmart.errors import InvalidInput

IMAGE_FIELD = "image"

CheckPixel = Callable[[int, Any, str], object]
"""``check(k, value, field)`` raises InvalidInput if ``value`` cannot be pixel ``k``."""


def expand_image_rows(
    rows: Any, shape: list[int], field_prefix: str, check: CheckPixel | None = None
) -> Any:
    """``rows`` with every ``{"image": nested}`` row replaced by its pixel fields; other
    rows (and anything that is not a list of objects) are returned as they are, for the
    contract's own validation to judge.

    ``check`` validates each pixel value where it stands in the nested list, so an error
    names ``instances[0].image[1][2]`` rather than the ``pixel_5`` the sender never wrote.
    """
    if not isinstance(rows, list) or not any(
        isinstance(row, dict) and IMAGE_FIELD in row for row in rows
    ):
        return rows
    expanded: list[Any] = []
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or IMAGE_FIELD not in row:
            expanded.append(row)
            continue
        where = f"{field_prefix}[{i}]"
        others = [k for k in row if k != IMAGE_FIELD]
        if others:
            raise InvalidInput(
                f"field '{where}.{others[0]}': a row with 'image' takes no other field; send "
                "either 'image' or the pixel_* features",
                field=f"{where}.{others[0]}",
            )
        pixels = _flatten(row[IMAGE_FIELD], shape, f"{where}.{IMAGE_FIELD}", check)
        expanded.append({f"pixel_{k}": value for k, value in enumerate(pixels)})
    return expanded


def _flatten(
    image: Any, shape: list[int], field: str, check: CheckPixel | None = None
) -> list[Any]:
    """Values of ``image`` in C-H-W order, after checking it has ``shape`` (or [h, w])."""
    channels, height, width = shape
    layouts = [[channels, height, width]] + ([[height, width]] if channels == 1 else [])
    text = " or ".join("x".join(str(d) for d in dims) for dims in layouts)
    layout = next((dims for dims in layouts if len(dims) == _depth(image)), None)
    if layout is None:  # not even nested to a depth an image can have
        nesting = "[channel][row][column]" + (" or [row][column]" if channels == 1 else "")
        raise InvalidInput.for_field(
            field, f"nested lists {nesting} of numbers (an image of {text} pixels)", image
        )
    values: list[Any] = []

    def walk(node: Any, level: int, where: str) -> None:
        size = layout[level]
        if not isinstance(node, list) or len(node) != size:
            inner = "numbers" if level == len(layout) - 1 else "lists"
            raise InvalidInput.for_field(
                where, f"a list of {size} {inner} (an image of {text} pixels)", node
            )
        for k, item in enumerate(node):
            if level == len(layout) - 1:
                if item is not None and (
                    isinstance(item, bool) or not isinstance(item, int | float)
                ):
                    raise InvalidInput.for_field(f"{where}[{k}]", "a number (a pixel value)", item)
                if check is not None:
                    check(len(values), item, f"{where}[{k}]")
                values.append(item)
            else:
                walk(item, level + 1, f"{where}[{k}]")

    walk(image, 0, field)
    return values


def _depth(node: Any) -> int:
    depth = 0
    while isinstance(node, list) and node:
        depth, node = depth + 1, node[0]
    return depth
