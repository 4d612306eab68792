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
