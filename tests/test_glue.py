"""Glued values: NumPy and torch scalars reach myst-nb as the Python numbers its format specs accept."""

import numpy as np
import torch

from scpaper.book.glue import plain


def test_scalars_become_python_numbers_and_the_rest_is_untouched():
    values = [np.float64(0.25), np.int64(3), np.array(1.5), torch.tensor(2.0), torch.tensor(7)]
    converted = [plain(v) for v in values]
    assert converted == [0.25, 3, 1.5, 2.0, 7]
    assert [type(v) for v in converted] == [float, int, float, float, int]
    assert f"{plain(np.float64(0.123456)):.2f}" == "0.12"
    vector, text = torch.ones(2), "3 of 4 claims reproduced"
    assert plain(vector) is vector and plain(text) is text


def test_glue_hands_myst_nb_the_plain_value_without_display(monkeypatch):
    import myst_nb

    from scpaper.book import glue

    calls = []
    monkeypatch.setattr(myst_nb, "glue", lambda name, value, display=True: calls.append((name, value, display)))
    glue.glue("ch_gap", np.float64(0.5))
    glue.glue("ch_table", "text", display=True)
    assert calls == [("ch_gap", 0.5, False), ("ch_table", "text", True)] and type(calls[0][1]) is float


def test_a_glued_figure_is_closed(monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import myst_nb

    from scpaper.book import glue

    monkeypatch.setattr(myst_nb, "glue", lambda name, value, display=True: None)
    glued, kept = plt.figure(), plt.figure()  # the current figure is another one
    glue.glue("ch_fig", glued)
    assert not plt.fignum_exists(glued.number) and plt.fignum_exists(kept.number)
    plt.close(kept)
