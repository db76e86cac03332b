"""The project's floor plan, checked from the source alone (``ast`` and ``tokenize``).

A *package* is a top-level folder of the repository that holds Python modules. The packages
stand in layers, bottom to top:

0. foundation: ``trainsmart`` (settings schema, state, registry, errors, auth)
1. stages: ``training``, ``serving``, ``monitoring``
2. entry points: ``apps`` (CLI, demo, launcher, Bento builder, process wiring)
3. tools: ``bench``, ``deploy``, ``grafana`` (they may import anything in the product; no
   product package imports them)

``tests`` is not checked. Every import statement counts: at module level, inside functions,
inside ``if TYPE_CHECKING:`` blocks and inside ``try``/``except``. ``from a.b import c``
resolves to the module ``a.b.c`` when that is a module or package of the repository, else to
``a.b``; relative imports resolve against the importing file; a bare ``import x`` in a folder
without ``__init__.py`` (a folder of scripts, e.g. ``grafana/``) resolves to a sibling file
``x.py`` when there is one. Each rule is a failure naming the file, the line and the import:

1. ``upward``: a module imports a module of a higher layer.
2. ``sideways``: a module imports another package of its own layer (the stages never import
   each other; neither do the tools).
3. ``cycle``: a cycle in the import graph between files (``pkg/__init__.py`` is the node
   ``pkg``, so a package that imports its submodules and a submodule that imports back
   ``from pkg import X`` form a cycle). Each strongly connected component is reported once,
   with one concrete cycle through it and the file:line of each edge.
4. ``in-function``: an import statement inside a function or method body (at any depth)
   carries a comment saying why it is lazy (``# lazy: imports torch``): a ``#`` comment on
   the statement's first or last line, or a comment line directly above it; one comment
   covers a block of in-function imports on consecutive lines.
"""

from __future__ import annotations

import ast
import io
import tokenize
from collections import Counter, deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

FOUNDATION = ("trainsmart",)
STAGES = ("training", "serving", "monitoring")
ENTRY_POINTS = ("apps",)
TOOLS = ("bench", "deploy", "grafana")

LAYERS: dict[str, int] = {
    **dict.fromkeys(FOUNDATION, 0),
    **dict.fromkeys(STAGES, 1),
    **dict.fromkeys(ENTRY_POINTS, 2),
    **dict.fromkeys(TOOLS, 3),
}

KINDS = ("upward", "sideways", "cycle", "in-function")

_SKIPPED_DIRS = {".venv", "venv", "__pycache__", "node_modules"}


@dataclass(frozen=True)
class Violation:
    """One breach of the floor plan, at ``path`` (relative to the root, POSIX) and ``line``."""

    kind: str
    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


@dataclass(frozen=True)
class Module:
    """A Python file of a checked package; ``pkg/__init__.py`` is the module ``pkg``."""

    name: str
    path: str
    package: str
    is_package: bool


@dataclass(frozen=True)
class Import:
    """One import statement's resolved target (a statement may have several targets)."""

    source: str
    target: str
    line: int
    end_line: int
    in_function: bool
    text: str


def _python_files(folder: Path) -> Iterator[Path]:
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith(".") or entry.name in _SKIPPED_DIRS:
            continue
        if entry.is_dir():
            yield from _python_files(entry)
        elif entry.suffix == ".py" and entry.is_file():
            yield entry


def modules(root: Path, packages: Mapping[str, int] = LAYERS) -> dict[str, Module]:
    """Every module of the checked packages that exist under ``root``, by dotted name."""
    found: dict[str, Module] = {}
    for package in sorted(packages):
        folder = root / package
        if not folder.is_dir():
            continue
        for file in _python_files(folder):
            parts = list(file.relative_to(root).with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            if is_package:
                parts.pop()
            name = ".".join(parts)
            found[name] = Module(name, file.relative_to(root).as_posix(), package, is_package)
    return found


class _Collector(ast.NodeVisitor):
    """The import statements of one module, each marked whether it is inside a function."""

    def __init__(self) -> None:
        self.depth = 0
        self.found: list[tuple[ast.Import | ast.ImportFrom, bool]] = []

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> None:
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_FunctionDef = _function
    visit_AsyncFunctionDef = _function
    visit_Lambda = _function

    def visit_Import(self, node: ast.Import) -> None:
        self.found.append((node, self.depth > 0))

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        self.found.append((node, self.depth > 0))


class _Resolver:
    def __init__(self, root: Path, known: Mapping[str, Module]) -> None:
        self.root = root
        self.known = known
        self.tops = {name.split(".")[0] for name in known}

    def longest_known(self, name: str) -> str:
        """``name`` itself or its longest prefix that is a module here (``name`` if none)."""
        parts = name.split(".")
        for end in range(len(parts), 0, -1):
            candidate = ".".join(parts[:end])
            if candidate in self.known:
                return candidate
        return name

    def absolute(self, module: Module, name: str) -> str:
        """Resolve an absolute module name, with the script-folder rule for siblings."""
        first = name.split(".")[0]
        if first not in self.tops:
            folder = (self.root / module.path).parent
            if not (folder / "__init__.py").exists():
                prefix = ".".join(module.name.split(".")[:-1])
                sibling = f"{prefix}.{name}" if prefix else name
                if self.longest_known(sibling) in self.known:
                    return self.longest_known(sibling)
            return name
        return self.longest_known(name)

    def targets(self, module: Module, node: ast.Import | ast.ImportFrom) -> list[str]:
        if isinstance(node, ast.Import):
            names = [self.absolute(module, alias.name) for alias in node.names]
        elif node.level == 0:
            if node.module is None or node.module == "__future__":
                return []
            base = self.absolute(module, node.module)
            names = [self._member(base, alias.name) for alias in node.names]
        else:
            parts = module.name.split(".")
            if not module.is_package:
                parts = parts[:-1]
            parts = parts[: max(len(parts) - (node.level - 1), 0)]
            if node.module:
                parts = [*parts, *node.module.split(".")]
            base = self.longest_known(".".join(parts))
            names = [self._member(base, alias.name) for alias in node.names]
        return list(dict.fromkeys(names))

    def _member(self, base: str, name: str) -> str:
        if name != "*" and f"{base}.{name}" in self.known:
            return f"{base}.{name}"
        return base


def _comment_lines(source: str) -> tuple[set[int], set[int]]:
    """Lines holding a ``#`` comment, and the lines that hold nothing but one."""
    anywhere: set[int] = set()
    alone: set[int] = set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            line = token.start[0]
            anywhere.add(line)
            if token.line.strip().startswith("#"):
                alone.add(line)
    return anywhere, alone


def scan(
    root: Path, packages: Mapping[str, int] = LAYERS
) -> tuple[dict[str, Module], list[Import], list[Import]]:
    """The modules, every resolved import, and the in-function imports lacking a comment."""
    known = modules(root, packages)
    resolver = _Resolver(root, known)
    imports: list[Import] = []
    uncommented: list[Import] = []
    for module in known.values():
        source = (root / module.path).read_text(encoding="utf-8")
        collector = _Collector()
        collector.visit(ast.parse(source, filename=module.path))
        comments: tuple[set[int], set[int]] | None = None
        covered_until = -1  # the last line of a commented block of in-function imports
        for node, in_function in sorted(collector.found, key=lambda found: found[0].lineno):
            end = node.end_lineno or node.lineno
            text = ast.unparse(node)
            targets = resolver.targets(module, node)
            found = [
                Import(module.name, target, node.lineno, end, in_function, text)
                for target in targets
            ]
            imports.extend(found)
            if in_function:
                if comments is None:
                    comments = _comment_lines(source)
                anywhere, alone = comments
                commented = {node.lineno, end} & anywhere or node.lineno - 1 in alone
                if commented or node.lineno - 1 == covered_until:
                    covered_until = end  # one comment covers the imports right below it
                else:
                    uncommented.append(
                        Import(module.name, ",".join(targets), node.lineno, end, True, text)
                    )
    return known, imports, uncommented


def import_graph(root: Path, packages: Mapping[str, int] = LAYERS) -> dict[str, dict[str, int]]:
    """Module -> imported module of the repository -> line of the first such import."""
    known, imports, _ = scan(root, packages)
    return _graph(known, imports)


def _graph(known: Mapping[str, Module], imports: list[Import]) -> dict[str, dict[str, int]]:
    graph: dict[str, dict[str, int]] = {name: {} for name in known}
    for item in imports:
        if item.target in known and item.target != item.source:
            edges = graph[item.source]
            edges[item.target] = min(edges.get(item.target, item.line), item.line)
    return graph


def _components(graph: Mapping[str, Mapping[str, int]]) -> list[list[str]]:
    """Strongly connected components (Tarjan, iterative), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    result: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                result.append(sorted(component))
    return result


def _cycle_through(
    start: str, members: set[str], graph: Mapping[str, Mapping[str, int]]
) -> list[str]:
    """The shortest cycle from ``start`` back to itself within ``members`` (BFS)."""
    previous: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for child in sorted(graph[node]):
            if child not in members:
                continue
            if child == start:
                path = [node]
                while path[-1] != start:
                    path.append(previous[path[-1]])
                return [*reversed(path), start]
            if child not in previous:
                previous[child] = node
                queue.append(child)
    raise AssertionError(f"no cycle through {start}")  # pragma: no cover


def check(root: Path, packages: Mapping[str, int] = LAYERS) -> list[Violation]:
    """Every breach of the floor plan under ``root``, sorted by kind, path and line."""
    known, imports, uncommented = scan(root, packages)
    found: list[Violation] = []
    for item in imports:
        source = known[item.source]
        target_package = item.target.split(".")[0]
        if target_package == source.package or target_package not in packages:
            continue
        mine, theirs = packages[source.package], packages[target_package]
        if theirs > mine:
            found.append(
                Violation(
                    "upward",
                    source.path,
                    item.line,
                    f"{source.package} (layer {mine}) imports {item.target} "
                    f"of {target_package} (layer {theirs}): {item.text}",
                )
            )
        elif theirs == mine:
            found.append(
                Violation(
                    "sideways",
                    source.path,
                    item.line,
                    f"{source.package} imports {item.target} of {target_package}, "
                    f"a package of the same layer ({mine}): {item.text}",
                )
            )

    graph = _graph(known, imports)
    for component in _components(graph):
        if len(component) < 2:
            continue
        cycle = _cycle_through(component[0], set(component), graph)
        steps = [
            f"{node} ({known[node].path}:{graph[node][after]})" for node, after in pairwise(cycle)
        ]
        message = f"import cycle: {' -> '.join(steps)} -> {cycle[0]}"
        others = [name for name in component if name not in cycle]
        if others:
            message += f"; {len(component)} modules in this tangle, also: {', '.join(others)}"
        first = cycle[0]
        found.append(Violation("cycle", known[first].path, graph[first][cycle[1]], message))

    for item in uncommented:
        found.append(
            Violation(
                "in-function",
                known[item.source].path,
                item.line,
                f"import inside a function without a comment saying why it is lazy: {item.text}",
            )
        )
    order = {kind: position for position, kind in enumerate(KINDS)}
    found = list(dict.fromkeys(found))
    return sorted(found, key=lambda v: (order[v.kind], v.path, v.line, v.message))


def counts(root: Path, packages: Mapping[str, int] = LAYERS) -> dict[str, int]:
    """The number of violations of each kind (every kind present, zero included)."""
    tally = Counter(v.kind for v in check(root, packages))
    return {kind: tally[kind] for kind in KINDS}
