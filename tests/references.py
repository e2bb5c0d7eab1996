"""Reference constructions shared by the tests (Captum-side helpers that the package does not need)."""

from torch import nn

from posthoc.explain.base import capture


class Projection(nn.Module):
    """⟨A_L, stop-gradient(max(A_L, 0))⟩ per image: its input gradient is layer L's F⁺ projected back."""

    def __init__(self, model, layer):
        super().__init__()
        self.model, self.layer = model, layer

    def forward(self, x):
        with capture(self.model, [self.layer]) as acts:
            self.model(x)
        a = acts[self.layer]
        return (a * a.detach().clamp(min=0)).flatten(1).sum(1, keepdim=True)
