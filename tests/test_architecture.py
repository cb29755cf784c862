"""The house rules of docs/architecture.md hold, and the checks that enforce them can fail.

``lint-imports`` (CI and ``make lint``) checks the contracts in pyproject.toml. These tests check
the same contracts on the real import graph, prove each contract breaks on a deliberate violation
(an upward import, a circle, the product importing the sandbox), and keep the one rule the
contracts cannot see: no import hidden inside a function to dodge a circle.
"""

from __future__ import annotations

import ast
import copy
import tomllib
from pathlib import Path

import grimp
import pytest
from importlinter import configuration
from importlinter.contracts.acyclic_siblings import AcyclicSiblingsContract
from importlinter.contracts.forbidden import ForbiddenContract
from importlinter.contracts.layers import LayersContract

ROOT = Path(__file__).resolve().parent.parent
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
PRODUCT = ("integration", "accounts", "mappings", "sandbox", "config")
CONTRACT_TYPES = {"layers": LayersContract, "acyclic_siblings": AcyclicSiblingsContract,
                  "forbidden": ForbiddenContract}


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    configuration.configure()  # what `lint-imports` sets up before it checks contracts
    return grimp.build_graph(*CONFIG["root_packages"], include_external_packages=False,
                             exclude_type_checking_imports=CONFIG["exclude_type_checking_imports"])


def contracts() -> list:
    session = {"root_packages": CONFIG["root_packages"]}
    built = []
    for options in CONFIG["contracts"]:
        options = dict(options)
        contract_type = CONTRACT_TYPES[options.pop("type")]
        built.append(contract_type(name=options.pop("name"), session_options=session, contract_options=options))
    return built


def broken(graph: grimp.ImportGraph) -> list[str]:
    return [contract.name for contract in contracts() if not contract.check(graph, verbose=False).kept]


def test_every_contract_is_kept(graph):
    assert broken(copy.deepcopy(graph)) == []


def test_the_contracts_cover_the_layers_of_the_design():
    layers = next(c for c in CONFIG["contracts"] if c["type"] == "layers")["layers"]
    assert layers.index("integration.console") < layers.index("integration.books") \
        < layers.index("integration.triggers") < layers.index("integration.transfers") \
        < layers.index("integration.core") < layers.index("accounts")


@pytest.mark.parametrize(("importer", "imported", "contract"), [
    # The engine reaching up for a page.
    ("integration.core.engine", "integration.console.home", "Layers"),
    # A transfer reaching up for a trigger.
    ("integration.transfers.sales_invoices", "integration.triggers.polling", "Layers"),
    # accounts (the bottom) reaching for the ledger.
    ("accounts.models", "integration.core.models", "Layers"),
    # Two transfers importing each other.
    ("integration.transfers.contacts", "integration.transfers.sales_invoices", "No import circles"),
    # The product depending on the emulators.
    ("integration.core.engine", "sandbox.seed", "The product never imports the sandbox"),
    # The emulators depending on the product's behaviour.
    ("sandbox.rackbeat.api", "integration.transfers.sales_invoices", "The sandbox emulates"),
])
def test_a_deliberate_violation_breaks_its_contract(graph, importer, imported, contract):
    changed = copy.deepcopy(graph)
    changed.add_import(importer=importer, imported=imported, line_number=1, line_contents="import it")
    assert any(name.startswith(contract) for name in broken(changed)), broken(changed)


def nested_imports(path: Path) -> list[tuple[int, str]]:
    """Imports inside a function body: (line, the function's name)."""
    found: list[tuple[int, str]] = []

    def visit(node: ast.AST, function: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)) and function:
                found.append((child.lineno, function))
            name = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else function
            visit(child, name)

    visit(ast.parse(path.read_text()), "")
    return found


def test_no_import_hides_in_a_function_except_where_django_requires_it():
    """Allowed only in an AppConfig's ``ready()`` and in migrations, with a comment saying why."""
    offenders = []
    for package in PRODUCT:
        for path in sorted((ROOT / package).rglob("*.py")):
            lines = path.read_text().splitlines()
            for line, function in nested_imports(path):
                where = f"{path.relative_to(ROOT)}:{line} (in {function}())"
                allowed_place = (path.name == "apps.py" and function == "ready") or "migrations" in path.parts
                # The reason stands on a comment line just above the import (or the first of several).
                above = [text.strip() for text in lines[max(0, line - 6):line - 1]]
                explained = any(text.startswith("#") and "Django requires" in text for text in above)
                if not (allowed_place and explained):
                    offenders.append(where)
    assert offenders == []


def test_the_map_names_every_top_level_part():
    """docs/architecture.md describes each layer the contracts enforce."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    for part in ("integration/core", "integration/transfers", "integration/triggers", "integration/books",
                 "integration/console", "integration/tasks.py", "accounts/", "mappings/", "sandbox/", "config/"):
        assert f"`{part}" in text, part
