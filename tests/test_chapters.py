"""The chapter runner: execution with parameters, provenance, failing cells, and the command line."""

import shutil

import nbformat
import pytest

from scpaper.book import cli, runner, runtime

FIXTURES = runtime.ROOT / "tests" / "fixtures"


@pytest.fixture
def book(tmp_path):
    """A two-chapter book: one that runs, one whose second cell raises."""
    (tmp_path / "book").mkdir()
    for name in ("99_demo.md", "98_fails.md"):
        shutil.copy(FIXTURES / name, tmp_path / "book" / name)
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: book/intro\nchapters:\n"
                                      "  - file: book/executed/99_demo\n    sections:\n      - file: book/executed/98_fails\n")
    return tmp_path


def test_toc_lists_chapters_and_selection_errors(book):
    assert [c.stem for c in runner.listed(book)] == ["99_demo", "98_fails"]
    assert [c.stem for c in runner.select(["99"], book)] == ["99_demo"]
    with pytest.raises(ValueError, match=r"chapter '7' matches 0 chapters; known: 99_demo, 98_fails"):
        runner.select(["7"], book)


def test_selection_by_number_letter_and_prefix():
    stems = {name: [c.stem for c in runner.select([name])] for name in ("3", "03", "3b", "03b_res", "04_sens")}
    assert stems["3"] == stems["03"] == ["03_mlcsc_guarantees"]
    assert stems["3b"] == stems["03b_res"] == ["03b_res_msd_csc"]
    assert stems["04_sens"] == ["04_sensitivity"]


def test_every_book_chapter_has_a_source():
    for chapter in runner.listed():
        assert chapter.source.is_file(), f"_toc.yml lists {chapter.stem} but {chapter.source} is missing"


def test_execute_injects_parameters_and_records_provenance(book, tmp_path):
    (chapter,) = runner.select(["99"], book)
    record = runner.execute(chapter, "smoke", "cpu", 5, tmp_path / "out")
    assert record["parameters"] == {"scale": "smoke", "device": "cpu", "seed": 5}
    assert record["wall_time_s"] > 0 and record["device"].startswith("CPU")
    nb = nbformat.read(tmp_path / "out" / "99_demo.ipynb", as_version=4)
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert injected and 'scale = "smoke"' in injected[0].source
    assert "provenance" in nb.cells[-1].metadata["tags"] and "scale `smoke`" in nb.cells[-1].source
    outputs = "".join(str(o) for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "passed" in outputs


def test_failing_cell_is_named(book, tmp_path):
    (chapter,) = runner.select(["98"], book)
    with pytest.raises(runner.ChapterFailed, match=r"^chapter 98_fails failed in cell 3: ValueError: no presets for chapter 'no_such_chapter'"):
        runner.execute(chapter, "smoke", "cpu", 0, tmp_path / "out")


def test_command_line_errors_are_one_line(capsys):
    assert cli.main(["run", "--scale", "huge"]) == 1
    assert capsys.readouterr().err == "scpaper: error: unknown scale 'huge': choose one of smoke, default, full\n"
    assert cli.main(["run", "nonexistent-chapter", "--scale", "smoke"]) == 1
    assert "matches 0 chapters" in capsys.readouterr().err


def test_render_refuses_missing_results(tmp_path, monkeypatch):
    monkeypatch.setattr(runtime, "ROOT", tmp_path)
    shutil.copy(runtime.Path(runner.__file__).parents[2] / "_toc.yml", tmp_path / "_toc.yml")
    with pytest.raises(ValueError, match=r"results/full/ lacks executed notebooks for .*run `python -m scpaper run --scale full` first"):
        runner.render("full")
