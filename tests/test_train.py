import copy
import math

import pytest
import torch
from torch import nn

from scpaper import train


def _data(n: int = 40, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, 6, generator=gen), torch.randint(0, 3, (n,), generator=gen)


def test_epoch_losses_are_the_mean_step_losses_of_plain_sgd_in_the_same_order():
    X, y = _data()
    torch.manual_seed(0)
    model = nn.Linear(6, 3)
    ref = copy.deepcopy(model)
    losses = train.fit(model, X, y, epochs=2, batch_size=16, lr=0.1, momentum=0.0, weight_decay=0.0,
                       schedule=train.constant, seed=3, progress=False)
    opt, gen, expected = torch.optim.SGD(ref.parameters(), lr=0.1), torch.Generator().manual_seed(3), []
    for _ in range(2):
        order, step_losses = torch.randperm(len(X), generator=gen), []
        for i in range(math.ceil(len(X) / 16)):
            idx = order[i * 16:(i + 1) * 16]
            loss = nn.functional.cross_entropy(ref(X[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            step_losses.append(loss.item())
        expected.append(sum(step_losses) / len(step_losses))
    assert losses == pytest.approx(expected, rel=1e-12)
    assert torch.allclose(model.weight, ref.weight)


class _NanAfter(nn.Linear):
    """A linear classifier whose output turns NaN from its k-th training call on."""

    def __init__(self, k: int):
        super().__init__(6, 3)
        self.k, self.calls = k, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = super().forward(x)
        self.calls += 1
        return out * float("nan") if self.calls > self.k else out


def test_a_non_finite_loss_later_in_training_stops_it_naming_that_step():
    X, y = _data()
    model = _NanAfter(4)
    with pytest.raises(FloatingPointError, match=r"training loss is nan at step 4 of 9 \(_NanAfter"):
        train.fit(model, X, y, epochs=3, batch_size=16, lr=0.01, seed=0, progress=False, stop_on_nan=True)
    assert model.calls == 5  # stopped at the bad step on a CPU, before its update
    unchecked = train.fit(_NanAfter(4), X, y, epochs=3, batch_size=16, lr=0.01, seed=0, progress=False)
    assert not math.isnan(unchecked[0]) and math.isnan(unchecked[1])  # without the check, training runs on
