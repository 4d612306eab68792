"""The package's three roles: concept modules at the top import neither the book's pipeline nor the chapters."""

import ast
from pathlib import Path

import pytest

import scpaper

PACKAGE = Path(scpaper.__file__).resolve().parent
SUBPACKAGES = {"book", "chapters", "data"}


def imported_modules(path: Path) -> set[str]:
    """Every module name that path imports, at any depth of the file."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


CONCEPTS = sorted(p for p in PACKAGE.glob("*.py") if p.name not in ("__init__.py", "__main__.py"))


def test_top_level_holds_concepts_and_the_three_subpackages():
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").is_file()}
    assert folders == SUBPACKAGES
    assert len(CONCEPTS) >= 15


@pytest.mark.parametrize("path", CONCEPTS, ids=lambda p: p.stem)
def test_concept_modules_import_neither_pipeline_nor_chapters(path):
    bad = {m for m in imported_modules(path) if m.startswith(("scpaper.book", "scpaper.chapters"))}
    assert not bad, f"{path.name} imports {sorted(bad)}"


@pytest.mark.parametrize("path", sorted((PACKAGE / "data").glob("*.py")), ids=lambda p: p.stem)
def test_data_package_imports_no_pipeline(path):
    assert not {m for m in imported_modules(path) if m.startswith(("scpaper.book", "scpaper.chapters"))}


@pytest.mark.parametrize("path", sorted((PACKAGE / "book").glob("*.py")), ids=lambda p: p.stem)
def test_pipeline_does_not_import_chapter_modules(path):
    assert not {m for m in imported_modules(path) if m.startswith("scpaper.chapters")}


def test_chapter_modules_are_named_after_their_chapter():
    stems = {p.stem for p in (PACKAGE.parent / "book").glob("0*.md")}
    for module in (PACKAGE / "chapters").glob("ch*.py"):
        number, _, name = module.stem.partition("_")
        assert f"{int(number[2:-1] if number[-1].isalpha() else number[2:]):02d}{number[-1] if number[-1].isalpha() else ''}_{name}" in stems, module.name


def test_only_the_data_package_reads_the_data_folder():
    readers = [p for p in PACKAGE.rglob("*.py") if "data" not in p.relative_to(PACKAGE).parts[:1]
               and ("locate(" in p.read_text() or '/ "data"' in p.read_text())]
    assert not readers, readers


def test_console_script_names_an_existing_function():
    import importlib
    import tomllib

    scripts = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text())["project"]["scripts"]
    for target in scripts.values():
        module, _, name = target.partition(":")
        assert callable(getattr(importlib.import_module(module), name)), target
