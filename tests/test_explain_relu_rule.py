"""The scoped ReLU rule behind guided backprop, Guided Grad-CAM and DeconvNet."""

import pytest
import torch
import torch.nn.functional as F
from captum.attr import GuidedBackprop
from torch import nn

from posthoc.explain import explain
from posthoc.explain.base import ReLURule, relu_rule
from posthoc.models import CNN1D

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # Captum's notes about hooks


class FunctionalCNN(nn.Module):
    """The same network as CNN1D(1, 4, 24, channels=(6, 6)) with every ReLU a functional call."""

    def __init__(self, twin: CNN1D, style: str):
        super().__init__()
        self.twin, self.style = twin, style

    def relu(self, x):
        return {
            "F.relu": F.relu,
            "torch.relu": torch.relu,
            "method": torch.Tensor.relu,
            "inplace": lambda t: F.relu(t, inplace=True),
        }[self.style](x)

    def forward(self, x):
        f = self.twin.features
        x = self.relu(f[2](self.relu(f[0](x))))
        return self.twin.classifier(x.flatten(1))


@pytest.mark.parametrize("style", ["F.relu", "torch.relu", "method", "inplace"])
def test_guided_backprop_catches_functional_relus(style):
    torch.manual_seed(0)
    modules = CNN1D(1, 4, 24, channels=(6, 6)).double().eval()
    functional = FunctionalCNN(modules, style)
    x, target = torch.randn(7, 1, 24, dtype=torch.float64), torch.tensor([0, 1, 2, 3, 0, 1, 2])
    with torch.no_grad():
        torch.testing.assert_close(functional(x), modules(x))
    ours = explain("guided_backprop", functional, x, target, []).channels[:, 0]
    ref = GuidedBackprop(modules).attribute(x, target=target)  # Captum's hooks only see nn.ReLU modules
    torch.testing.assert_close(ours, ref, rtol=1e-10, atol=1e-12)
    missed = GuidedBackprop(functional).attribute(x, target=target)
    assert not torch.allclose(missed, ref)  # what a module-hook implementation gives on this model


def test_rule_is_scoped_and_restored_after_errors():
    x = torch.tensor([-1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="boom"):
        with relu_rule("deconvnet"):
            raise RuntimeError("boom")
    with relu_rule("deconvnet"):
        y = F.relu(x)
    (g,) = torch.autograd.grad(y, x, torch.tensor([3.0, -4.0]))
    assert g.tolist() == [3.0, 0.0]  # deconvnet: max(g, 0) whatever the forward sign
    z = F.relu(x)  # outside the block: the ordinary gradient again
    (g,) = torch.autograd.grad(z, x, torch.tensor([3.0, -4.0]))
    assert g.tolist() == [0.0, -4.0]
    assert not torch._C._is_torch_function_mode_enabled()


def test_rule_switches_between_backward_passes_of_one_graph():
    x = torch.tensor([-1.0, 2.0, 3.0], requires_grad=True)
    with relu_rule("gradient") as rule:
        y = torch.relu(x)
    seed = torch.tensor([5.0, -1.0, 2.0])
    assert torch.autograd.grad(y, x, seed, retain_graph=True)[0].tolist() == [0.0, -1.0, 2.0]
    rule.rule = "guided"
    assert torch.autograd.grad(y, x, seed)[0].tolist() == [0.0, 0.0, 2.0]
    with pytest.raises(ValueError, match="unknown ReLU rule"):
        ReLURule("positive")


def test_guided_backprop_is_batched():
    torch.manual_seed(1)
    model = CNN1D(1, 3, 20, channels=(4, 4)).double().eval()
    x, target = torch.randn(6, 1, 20, dtype=torch.float64), torch.tensor([0, 1, 2, 0, 1, 2])
    whole = explain("guided_backprop", model, x, target, []).maps
    one_by_one = torch.cat(
        [explain("guided_backprop", model, x[i : i + 1], target[i : i + 1], []).maps for i in range(6)]
    )
    torch.testing.assert_close(whole, one_by_one)
