"""The floor plan of tests/layering.py: the tree keeps it, and the checker catches each breach
planted in a small tree of its own (right kind, right file, right line)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.layering import (
    LAYERS,
    STAGES,
    TOOLS,
    Violation,
    check,
    counts,
    import_graph,
    modules,
)

ROOT = Path(__file__).parents[1]


def plant(root: Path, files: dict[str, str]) -> Path:
    """Write ``files`` (path -> source, dedented) under ``root``; return ``root``."""
    for name, source in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source).lstrip("\n"), encoding="utf-8")
    return root


def where(violations: list[Violation]) -> list[tuple[str, str, int]]:
    return [(v.kind, v.path, v.line) for v in violations]


def test_the_tree_keeps_its_floor_plan() -> None:
    violations = check(ROOT)
    assert not violations, f"{len(violations)} breaches of the floor plan:\n" + "\n".join(
        map(str, violations)
    )


def test_the_layers_name_every_package_once() -> None:
    assert LAYERS["trainsmart"] < LAYERS["training"] < LAYERS["apps"] < LAYERS["bench"]
    assert {LAYERS[name] for name in STAGES} == {1}
    assert {LAYERS[name] for name in TOOLS} == {3}


@pytest.mark.parametrize(
    ("files", "path", "line", "imported"),
    [
        pytest.param(
            {
                "trainsmart/__init__.py": "",
                "trainsmart/settings.py": """
                    import os

                    from training.loop import fit
                """,
                "training/__init__.py": "",
                "training/loop.py": "fit = 1\n",
            },
            "trainsmart/settings.py",
            3,
            "training.loop",
            id="foundation-imports-a-stage",
        ),
        pytest.param(
            {
                "serving/__init__.py": "",
                "serving/service.py": """
                    def build() -> None:
                        import apps.cli  # lazy: the CLI
                """,
                "apps/__init__.py": "",
                "apps/cli.py": "",
            },
            "serving/service.py",
            2,
            "apps.cli",
            id="stage-imports-apps-in-a-function",
        ),
        pytest.param(
            {
                "apps/__init__.py": "",
                "apps/launch.py": """
                    from typing import TYPE_CHECKING

                    if TYPE_CHECKING:
                        from bench import run
                """,
                "bench/__init__.py": "",
                "bench/run.py": "",
            },
            "apps/launch.py",
            4,
            "bench.run",
            id="apps-imports-a-tool-under-type-checking",
        ),
    ],
)
def test_an_upward_import_fails(
    tmp_path: Path, files: dict[str, str], path: str, line: int, imported: str
) -> None:
    violations = check(plant(tmp_path, files))
    assert where(violations) == [("upward", path, line)]
    assert imported in violations[0].message
    assert str(violations[0]).startswith(f"{path}:{line}: ")


@pytest.mark.parametrize(
    ("files", "path", "line", "imported"),
    [
        pytest.param(
            {
                "training/__init__.py": "",
                "training/loop.py": """
                    try:
                        from monitoring.drift import score
                    except ImportError:
                        score = None
                """,
                "monitoring/__init__.py": "",
                "monitoring/drift.py": "",
            },
            "training/loop.py",
            2,
            "monitoring.drift",
            id="training-imports-monitoring",
        ),
        pytest.param(
            {
                "serving/__init__.py": "",
                "serving/service.py": "import training\n",
                "training/__init__.py": "",
            },
            "serving/service.py",
            1,
            "training",
            id="serving-imports-training",
        ),
        pytest.param(
            {
                "bench/__init__.py": "",
                "bench/run.py": "import json\n\nimport grafana.board\n",
                "grafana/board.py": "",
            },
            "bench/run.py",
            3,
            "grafana.board",
            id="bench-imports-grafana",
        ),
    ],
)
def test_an_import_between_packages_of_one_layer_fails(
    tmp_path: Path, files: dict[str, str], path: str, line: int, imported: str
) -> None:
    violations = check(plant(tmp_path, files))
    assert where(violations) == [("sideways", path, line)]
    assert imported in violations[0].message


def test_downward_imports_pass(tmp_path: Path) -> None:
    plant(
        tmp_path,
        {
            "trainsmart/__init__.py": "",
            "trainsmart/settings.py": "import os\nimport numpy\n",
            "training/__init__.py": "from trainsmart.settings import os\n",
            "monitoring/__init__.py": "import trainsmart\n",
            "apps/__init__.py": "",
            "apps/cli.py": "import monitoring\nimport training\nfrom trainsmart import settings\n",
            "bench/__init__.py": "from apps import cli\nimport serving\n",
            "serving/__init__.py": "from trainsmart import settings\n",
            "grafana/board.py": "import trainsmart.settings\n",
            "tests/test_x.py": "import bench\nimport grafana.board\n",
        },
    )
    assert check(tmp_path) == []
    assert counts(tmp_path) == {"upward": 0, "sideways": 0, "cycle": 0, "in-function": 0}


def test_a_cycle_of_two_files_fails_even_through_a_commented_lazy_import(tmp_path: Path) -> None:
    plant(
        tmp_path,
        {
            "trainsmart/__init__.py": "",
            "trainsmart/a.py": """
                from trainsmart import b

                A = 1
            """,
            "trainsmart/b.py": """
                def later() -> int:
                    from trainsmart.a import A  # lazy: a imports b

                    return A
            """,
        },
    )
    violations = check(tmp_path)
    assert where(violations) == [("cycle", "trainsmart/a.py", 1)]
    assert violations[0].message == (
        "import cycle: trainsmart.a (trainsmart/a.py:1) -> "
        "trainsmart.b (trainsmart/b.py:2) -> trainsmart.a"
    )


def test_a_cycle_through_a_package_init_fails(tmp_path: Path) -> None:
    plant(
        tmp_path,
        {
            "trainsmart/__init__.py": "",
            "trainsmart/registry/__init__.py": """
                \"\"\"The registry.\"\"\"

                from trainsmart.registry.store import Store

                Bundle = object
            """,
            "trainsmart/registry/store.py": """
                import json

                from trainsmart.registry import Bundle

                Store = Bundle
            """,
        },
    )
    violations = check(tmp_path)
    assert where(violations) == [("cycle", "trainsmart/registry/__init__.py", 3)]
    assert "trainsmart.registry.store (trainsmart/registry/store.py:3)" in violations[0].message


def test_a_type_checking_import_forming_a_cycle_fails(tmp_path: Path) -> None:
    plant(
        tmp_path,
        {
            "monitoring/__init__.py": "",
            "monitoring/policy.py": """
                from __future__ import annotations

                from typing import TYPE_CHECKING

                if TYPE_CHECKING:
                    from monitoring.runner import Runner
            """,
            "monitoring/runner.py": """
                from monitoring.policy import Policy
            """,
        },
    )
    violations = check(tmp_path)
    assert where(violations) == [("cycle", "monitoring/policy.py", 6)]
    assert "monitoring.runner (monitoring/runner.py:1)" in violations[0].message


def test_each_tangle_is_reported_once(tmp_path: Path) -> None:
    plant(
        tmp_path,
        {
            "training/__init__.py": "",
            "training/a.py": "from training import b, c\n",
            "training/b.py": "from training import c\nfrom training import a\n",
            "training/c.py": "import training.a\n",
            "training/d.py": "import training.a\n",
        },
    )
    violations = check(tmp_path)
    assert where(violations) == [("cycle", "training/a.py", 1)]
    assert violations[0].message.startswith(
        "import cycle: training.a (training/a.py:1) -> training.b (training/b.py:2) -> training.a"
    )
    assert violations[0].message.endswith("3 modules in this tangle, also: training.c")


def test_relative_imports_resolve(tmp_path: Path) -> None:
    plant(
        tmp_path,
        {
            "trainsmart/__init__.py": "",
            "trainsmart/state/__init__.py": "from . import db\nfrom .db import Database\n",
            "trainsmart/state/db.py": "from ..registry import store\nfrom .. import errors\n",
            "trainsmart/errors.py": "",
            "trainsmart/registry/__init__.py": "",
            "trainsmart/registry/store.py": """
                def open_state() -> None:
                    from ..state.db import Database  # lazy: state imports the registry
            """,
        },
    )
    graph = import_graph(tmp_path)
    assert graph["trainsmart.state"] == {"trainsmart.state.db": 1}
    assert graph["trainsmart.state.db"] == {
        "trainsmart.registry.store": 1,
        "trainsmart.errors": 2,
    }
    assert graph["trainsmart.registry.store"] == {"trainsmart.state.db": 2}
    assert where(check(tmp_path)) == [("cycle", "trainsmart/registry/store.py", 2)]


def test_a_relative_import_of_a_stage_is_a_sideways_import(tmp_path: Path) -> None:
    plant(
        tmp_path,
        {
            "serving/__init__.py": "",
            "serving/service.py": "from . import cache\n",
            "serving/cache/": "",
            "training/__init__.py": "",
            "training/export.py": "import serving.service\n",
        },
    )
    assert where(check(tmp_path)) == [("sideways", "training/export.py", 1)]


def test_a_script_folder_imports_its_siblings(tmp_path: Path) -> None:
    plant(
        tmp_path,
        {
            "grafana/board.py": "from panels import row\n",
            "grafana/panels.py": "import json\n",
        },
    )
    assert import_graph(tmp_path)["grafana.board"] == {"grafana.panels": 1}


@pytest.mark.parametrize(
    ("source", "line"),
    [
        pytest.param(
            """
            def train() -> None:
                import torch
            """,
            2,
            id="import",
        ),
        pytest.param(
            """
            class Runner:
                async def run(self) -> None:
                    if True:
                        from json import dumps
            """,
            4,
            id="from-import-in-an-async-method",
        ),
        pytest.param(
            """
            def outer() -> None:
                def inner() -> None:
                    try:
                        import shap
                    except ImportError:
                        pass
            """,
            4,
            id="nested-function-in-try",
        ),
        pytest.param(
            """
            # lazy: a comment two lines above does not count

            def fit() -> None:
                import torch
            """,
            4,
            id="comment-not-directly-above",
        ),
        pytest.param(
            """
            def fit() -> None:
                x = 1  # the comment of another statement
                import torch
            """,
            3,
            id="trailing-comment-of-the-line-above",
        ),
        pytest.param(
            """
            def fit() -> None:
                import os  # lazy: an example

                import torch
            """,
            4,
            id="a-blank-line-ends-a-commented-block",
        ),
        pytest.param(
            """
            def fit() -> None:
                x = "# not a comment"; import torch
            """,
            2,
            id="hash-in-a-string",
        ),
    ],
)
def test_an_in_function_import_without_a_comment_fails(
    tmp_path: Path, source: str, line: int
) -> None:
    plant(tmp_path, {"training/__init__.py": "", "training/loop.py": source})
    violations = check(tmp_path)
    assert where(violations) == [("in-function", "training/loop.py", line)]
    assert "without a comment" in violations[0].message


@pytest.mark.parametrize(
    "source",
    [
        pytest.param(
            """
            def fit() -> None:
                import torch  # lazy: imports torch
            """,
            id="same-line",
        ),
        pytest.param(
            """
            def fit() -> None:
                # lazy: imports tensorflow, an optional extra
                import tensorflow as tf
            """,
            id="line-above",
        ),
        pytest.param(
            """
            def fit() -> None:
                from evidently import (
                    Report,
                    DataDefinition,
                )  # lazy: evidently is heavy
            """,
            id="last-line-of-a-multi-line-statement",
        ),
        pytest.param(
            """
            def fit() -> None:
                from evidently import (  # lazy: evidently is heavy
                    Report,
                )
            """,
            id="first-line-of-a-multi-line-statement",
        ),
        pytest.param(
            """
            def fit() -> None:
                # lazy: alembic only when a schema must be upgraded
                import sqlalchemy as sa
                from alembic import command
            """,
            id="one-comment-above-a-block",
        ),
        pytest.param(
            """
            import json

            if json:
                import os

            class Model:
                import re
            """,
            id="module-and-class-level",
        ),
    ],
)
def test_a_commented_in_function_import_passes(tmp_path: Path, source: str) -> None:
    plant(tmp_path, {"training/__init__.py": "", "training/loop.py": source})
    assert check(tmp_path) == []


def test_only_the_packages_of_the_floor_plan_are_checked(tmp_path: Path) -> None:
    plant(
        tmp_path,
        {
            "trainsmart/__init__.py": "",
            "trainsmart/.cache/stale.py": "import apps\n",
            "trainsmart/__pycache__/stale.py": "import apps\n",
            "tests/test_a.py": "def f() -> None:\n    import apps\n",
            "docs/conf.py": "def f() -> None:\n    import apps\n",
            ".venv/lib/site.py": "import apps\n",
            "apps/__init__.py": "",
        },
    )
    assert check(tmp_path) == []
    custom = {"core": 0, "ui": 1}
    plant(tmp_path, {"core/__init__.py": "import ui\n", "ui/__init__.py": "import core\n"})
    assert where(check(tmp_path, custom)) == [
        ("upward", "core/__init__.py", 1),
        ("cycle", "core/__init__.py", 1),
    ]


def test_counts_tally_each_kind(tmp_path: Path) -> None:
    plant(
        tmp_path,
        {
            "trainsmart/__init__.py": "import serving\n",
            "serving/__init__.py": "import trainsmart\nimport monitoring\n",
            "monitoring/__init__.py": "def f() -> None:\n    import os\n",
        },
    )
    assert counts(tmp_path) == {"upward": 1, "sideways": 1, "cycle": 1, "in-function": 1}


LONG_MODULE = 300
"""Lines past which a module outside tests must say why at its top."""


def test_modules_over_300_lines_say_why_at_their_top() -> None:
    """A module longer than 300 lines starts with ``# over 300 lines: <reason>``."""
    root = Path(__file__).parents[1]
    unexplained = []
    for module in modules(root).values():
        lines = (root / module.path).read_text(encoding="utf-8").splitlines()
        if len(lines) > LONG_MODULE and not (
            lines and lines[0].startswith("# over 300 lines: ") and len(lines[0]) > 30
        ):
            unexplained.append(f"{module.path}: {len(lines)} lines")
    assert not unexplained, (
        "split these modules, or give the reason on their first line "
        "('# over 300 lines: ...'):\n" + "\n".join(unexplained)
    )


def test_every_folder_of_python_code_is_on_the_floor_plan() -> None:
    """A new top-level package must be given a layer, or nothing would check it."""
    root = Path(__file__).parents[1]
    folders = {
        path.relative_to(root).parts[0]
        for path in root.glob("*/**/*.py")
        if not any(part.startswith(".") or part == "__pycache__" for part in path.parts)
    }
    assert folders - {"tests"} - set(LAYERS) == set()
