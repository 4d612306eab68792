"""The chapter runner: execution with parameters, provenance, overrides, failing cells, rendering and the command line."""

import json
import shutil
import subprocess
from dataclasses import asdict

import nbformat
import pytest

from scpaper.book import claims, cli, intervals, runner, runs, runtime

FIXTURES = runtime.ROOT / "tests" / "fixtures"


@pytest.fixture
def book(tmp_path):
    """A two-chapter book: one that runs, one whose second cell raises."""
    (tmp_path / "book").mkdir()
    for name in ("99_demo.md", "98_fails.md", "97_variant.md"):
        shutil.copy(FIXTURES / name, tmp_path / "book" / name)
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: book/intro\nchapters:\n"
                                      "  - file: book/executed/99_demo\n    sections:\n      - file: book/executed/98_fails\n"
                                      "  - file: book/executed/97_variant\n")
    return tmp_path


def test_toc_lists_chapters_and_selection_errors(book):
    assert [c.stem for c in runner.listed(book)] == ["99_demo", "98_fails", "97_variant"]
    assert [c.stem for c in runner.select(["99"], book)] == ["99_demo"]
    with pytest.raises(ValueError, match=r"chapter '7' matches 0 chapters; known: 99_demo, 98_fails, 97_variant"):
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
    assert not [c for c in nb.cells if "scpaper-environment" in c.metadata.get("tags", [])]
    assert nb.cells[0].source == "# Demo chapter" and "banner" in nb.cells[1].metadata["tags"]
    assert "Scale `smoke`, seed 5" in nb.cells[1].source and f"{record['wall_time_s']} s" in nb.cells[1].source
    assert record["threads"] == runtime.threads() and record["blas"] and record["claims"]["summary"] == "controls: 1 passed"
    assert {"numpy", "scipy", "torch", "sklearn", "jupyter-book", "myst-nb", "papermill"} <= set(record["versions"])
    note = nb.cells[-1].source
    assert f"Torch threads: {runtime.threads()} ($SCPAPER_THREADS)" in note and "myst-nb" in note and "openblas" in note
    assert nb.metadata["scpaper"]["chapter"] == "99_demo"
    assert (tmp_path / "out" / "demo_claims.json").is_file()  # the kernel wrote its claims where the runner said
    outputs = "".join(str(o) for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "passed" in outputs


def test_failing_cell_is_named_and_leaves_no_notebook_a_render_would_count(book, tmp_path):
    (chapter,) = runner.select(["98"], book)
    with pytest.raises(runner.ChapterFailed, match=r"^chapter 98_fails failed in cell 3: ValueError: no presets for chapter 'no_such_chapter'"):
        runner.execute(chapter, "smoke", "cpu", 0, tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["98_fails.failed.ipynb"]


def test_a_failing_book_build_is_a_one_line_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(runtime, "ROOT", tmp_path)
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: book/intro\n")
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "intro.md").write_text("# Intro\n\n{glue:text}`no_such_key`\n")
    (tmp_path / "_config.yml").write_text("title: t\nexecute:\n  execute_notebooks: 'off'\n")
    assert cli.main(["render"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("scpaper: error: jupyter-book build of") and "failed with exit status" in err


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


def test_override_reaches_the_chapter_and_the_provenance(book, tmp_path):
    (chapter,) = runner.select(["97"], book)
    assert runner.preset_name(chapter) == "sensitivity" and runner.claims_name(chapter) == "variant"
    record = runner.execute(chapter, "default", "cpu", 0, tmp_path / "out", {"lams": [0.1, 0.3], "dict_steps": 200}, tag="myvariant")
    assert record["overrides"] == {"lams": [0.1, 0.3], "dict_steps": 200} and record["tag"] == "myvariant"
    assert set(record["cache"]) == {"loaded", "loaded_seconds", "computed"}
    nb = nbformat.read(tmp_path / "out" / "97_variant.ipynb", as_version=4)
    printed = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "lams=[0.1, 0.3] dict_steps=200" in printed
    banner = next(c.source for c in nb.cells if "banner" in c.metadata.get("tags", []))
    assert "`lams=[0.1, 0.3]`, `dict_steps=200`" in banner and "Variant run `myvariant`" in banner
    (tmp_path / "out" / "provenance.json").write_text(json.dumps({record["chapter"]: record}))
    assert cli.main(["note", str(tmp_path / "out" / "97_variant.ipynb"), "Split across  two calls."]) == 0
    nb = nbformat.read(tmp_path / "out" / "97_variant.ipynb", as_version=4)
    banner = next(c.source for c in nb.cells if "banner" in c.metadata.get("tags", []))
    assert banner.count("Variant run `myvariant`") == 1 and banner.endswith("Split across two calls.\n```")
    assert nb.metadata["scpaper"]["note"] == "Split across two calls."
    assert json.loads((tmp_path / "out" / "provenance.json").read_text())[record["chapter"]]["note"] == "Split across two calls."
    assert cli.main(["note", str(tmp_path / "out" / "97_variant.ipynb"), " "]) == 1


def test_banner_says_when_cached_steps_came_from_an_earlier_run_and_carries_a_note():
    record = {"parameters": {"scale": "full", "seed": 0}, "commit": "0123456789abcdef", "device": "NVIDIA H200",
              "wall_time_s": 117.6, "finished": "2026-11-30T23:34:41+00:00"}
    plain = runner.banner_text(record)
    assert "Cached steps" not in plain
    assert runner.banner_text({**record, "cache": {"loaded": 0, "loaded_seconds": 0.0, "computed": 30}}) == plain
    cached = runner.banner_text({**record, "cache": {"loaded": 28, "loaded_seconds": 412.4, "computed": 2}})
    assert cached == (f"{plain} Cached steps loaded from an earlier run of the same code: 28 of 30; the wall time "
                      "leaves out the 412 s they took to compute.")
    noted = runner.banner_text({**record, "note": "Split across three calls."})
    assert noted == f"{plain} Split across three calls."


def test_bad_overrides_are_one_line_errors_naming_the_keys(capsys):
    assert cli.main(["run", "4", "--scale", "default", "--set", "lamz=[0.1]", "--tag", "v"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("scpaper: error: preset sensitivity/default has no key 'lamz'; valid keys: ")
    assert "dict_steps" in err and "lams" in err
    assert cli.main(["run", "4", "--scale", "default", "--set", "dict_steps=2.5"]) == 1
    assert capsys.readouterr().err == ("scpaper: error: preset sensitivity/default: dict_steps must be an int like 60, got 2.5\n")
    assert cli.main(["run", "4", "--scale", "default", "--set", "lams=0.3"]) == 1
    assert "lams must be a list of float like [0.03, 0.1, 0.3, 0.9, 3.0], got 0.3" in capsys.readouterr().err
    assert cli.main(["run", "4", "--set", "lams"]) == 1
    assert "--set takes key=value" in capsys.readouterr().err
    assert cli.main(["run", "4", "--tag", "full"]) == 1
    assert "tag 'full' must be" in capsys.readouterr().err


def _claims_file(folder, low):
    """A claims file with one empirical claim whose interval starts at low (margin 0, side above) and one identity."""
    folder.mkdir(parents=True)
    made = [claims.empirical("gain", "B beats A", "+1 pt", intervals.Interval(low + 1, low, low + 2, 100, "paired bootstrap"),
                             0.0, "above", what="Δ", unit=" pt"),
            claims.identity("kkt", "KKT holds", "eq 9", 1e-9, 1e-6)]
    record = {"chapter": "demo", "scale": "smoke", "summary": claims.summary(made), "claims": [asdict(c) for c in made]}
    (folder / "demo_claims.json").write_text(json.dumps(record))


def test_compare_marks_a_changed_verdict(tmp_path, capsys):
    _claims_file(tmp_path / "a", 0.5)
    _claims_file(tmp_path / "b", -0.5)
    table = runs.compare_table(runs.load(str(tmp_path / "a")), runs.load(str(tmp_path / "b")))
    assert table.loc["demo/gain", "A verdict"] == "reproduced" and table.loc["demo/gain", "B verdict"] == "inconclusive"
    assert table.loc["demo/gain", "verdict"] == "CHANGED" and table.loc["demo/kkt", "verdict"] == ""
    assert table.loc["demo/gain", "A (95 % CI)"] == "1.5 [0.5, 2.5]"
    assert cli.main(["compare", str(tmp_path / "a"), str(tmp_path / "b")]) == 0
    out = capsys.readouterr().out
    assert "CHANGED" in out and out.rstrip().endswith("1 of 2 verdicts changed")
    assert cli.main(["claims", "--tag", str(tmp_path / "a")]) == 0
    assert "B beats A" in capsys.readouterr().out
    assert cli.main(["compare", str(tmp_path / "a"), "no-such-run"]) == 1
    assert capsys.readouterr().err.startswith("scpaper: error: no run 'no-such-run'")


def test_render_shows_the_notebooks_it_staged(book, tmp_path, monkeypatch):
    """Stage one run, build, stage another, build: the page shows the second (issue 16 item 6)."""
    root = runtime.ROOT
    monkeypatch.setattr(runtime, "ROOT", book)
    shutil.copy(root / "_config.yml", book / "_config.yml")
    for name in ("references.md", "references.bib"):
        shutil.copy(root / "book" / name, book / "book" / name)
    (book / "book" / "intro.md").write_text("# Intro\n\n```{include} executed/overview.md\n```\n")
    (book / "_toc.yml").write_text("format: jb-book\nroot: book/intro\nchapters:\n  - file: book/executed/99_demo\n"
                                   "  - file: book/references\n")
    (book / "build-assets").mkdir()
    (chapter,) = runner.select(["99"])
    for scale, seed in (("smoke", 1), ("default", 2)):
        runner.execute(chapter, scale, "cpu", seed, book / "results" / scale)
    pages = {}
    for scale in ("smoke", "default"):
        html = runner.render(scale)
        pages[scale] = ((html / "book/executed/99_demo.html").read_text(), (html / "book/intro.html").read_text())
    for scale, seed in (("smoke", 1), ("default", 2)):
        page, intro = pages[scale]
        assert f"Scale <code class=\"docutils literal notranslate\"><span class=\"pre\">{scale}</span></code>, seed {seed}" in page
        assert f"seed {seed}" in intro and "controls: 1 passed" in intro
    assert "seed 1" not in pages["default"][0]
    # CI's smoke book goes to its own folder: the reader's staged pages and HTML stay as they were (item 7)
    staged = (book / "book/executed/99_demo.ipynb").read_bytes()
    reader = (book / "_build/html/book/executed/99_demo.html").read_text()
    html = runner.render("smoke", into=book / "_build" / "test")
    assert "seed 1" in (html / "book/executed/99_demo.html").read_text()
    assert (book / "book/executed/99_demo.ipynb").read_bytes() == staged
    assert (book / "_build/html/book/executed/99_demo.html").read_text() == reader


def test_a_run_rewriting_committed_results_is_not_dirty_but_a_code_change_is(tmp_path):
    git = lambda *args: subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path,
                                       check=True, capture_output=True, text=True).stdout.strip()
    git("init", "-q")
    (tmp_path / "results" / "full").mkdir(parents=True)
    (tmp_path / "results" / "full" / "claims.json").write_text("{}")
    (tmp_path / "code.py").write_text("x = 1\n")
    git("add", "-A")
    git("commit", "-qm", "start")
    head = git("rev-parse", "HEAD")
    (tmp_path / "results" / "full" / "claims.json").write_text('{"new": 1}')  # what a full run writes
    assert runner.git_commit(tmp_path) == head
    (tmp_path / "code.py").write_text("x = 2\n")
    assert runner.git_commit(tmp_path) == head + "+dirty"


def test_commit_of_a_copy_without_git_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.delenv(runner.COMMIT_ENV, raising=False)
    assert runner.git_commit(tmp_path) == "unknown"
    monkeypatch.setenv(runner.COMMIT_ENV, "0123abc")
    assert runner.git_commit(tmp_path) == "0123abc"
    if (runtime.ROOT / ".git").exists():
        assert runner.git_commit(runtime.ROOT) != "0123abc"  # a real checkout names its own commit
