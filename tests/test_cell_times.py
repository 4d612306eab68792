import importlib.util
import json

from scpaper.book import runtime

_spec = importlib.util.spec_from_file_location("cell_times", runtime.ROOT / "scripts" / "cell_times.py")
cell_times = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cell_times)


def _cell(source: str, status: str, duration: float | None, text: str = "") -> dict:
    outputs = [{"output_type": "stream", "name": "stderr", "text": text}] if text else []
    return {"cell_type": "code", "source": source, "outputs": outputs,
            "metadata": {"papermill": {"status": status, "duration": duration}}}


def test_a_stopped_notebook_reports_finished_cells_and_the_running_cells_last_progress(tmp_path):
    nb = {"cells": [{"cell_type": "markdown", "source": "# Title", "metadata": {}},
                    _cell("x = 1\ny = 2", "completed", 1.25),
                    _cell("train()", "running", None, "training:  10%|█ | 1/10\r\x1b[Atraining:  20%|██ | 2/10\n"),
                    _cell("never()", "pending", None)]}
    path = tmp_path / ".ch.partial.ipynb"
    path.write_text(json.dumps(nb))
    rows = cell_times.report(path)
    assert len(rows) == 2
    assert rows[0].startswith("completed") and "1.2 s" in rows[0] and "x = 1" in rows[0] and "y = 2" not in rows[0]
    assert rows[1].startswith("running") and rows[1].endswith("training:  20%|██ | 2/10") and "\x1b" not in rows[1]
