"""Chapter 4's helpers: the digits its dictionaries start from, how far the atoms moved and split heads."""

import pytest
import torch

from scpaper import sensitivity
from scpaper.chapters import ch4_sensitivity as ch


def test_starting_digits_are_the_atoms_before_learning_and_lie_outside_the_training_subset():
    before = ch.mnist_dictionary(0.3, 100, 20, steps=0, from_images=True).atoms
    start = ch.starting_digits(100, 20)
    assert ch.kept_cosine(before, start) == pytest.approx(1.0, abs=1e-6)
    assert ch.kept_cosine(before, start.roll(1, dims=1)) < 0.9  # paired column by column, not as a set
    tail = ch.mnist_images(30, offset=49_970)  # with 49 970 training digits only the last 30 of the 50 000 are outside
    same = (ch.starting_digits(49_970, 20).T[:, None, :] == tail[None]).all(-1)  # (atom, tail digit)
    assert (same.sum(1) == 1).all() and len(set(same.float().argmax(1).tolist())) == 20
    after = ch.mnist_dictionary(0.3, 100, 20, steps=20, from_images=True).atoms
    assert 0 < ch.kept_cosine(after, start) < 1 - 1e-6


def test_head_keeps_images_and_labels_together():
    split = sensitivity.Split(torch.arange(5 * 4).reshape(5, 2, 2).float(), torch.tensor([3, 1, 4, 1, 5]))
    first = ch.head(split, 3)
    assert torch.equal(first.images, split.images[:3]) and first.labels.tolist() == [3, 1, 4]
