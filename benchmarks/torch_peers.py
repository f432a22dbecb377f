"""The astrozoo benchmark networks written in plain PyTorch (the peers).

Same layers, same shapes and same parameter counts as the Keras builders
(``benchmarks.run`` asserts the counts are equal before timing). PyTorch is
channels-first, so the peers take NCHW / NCL inputs; the flatten order of
LeNet-5 and spectra1d differs from Keras but the arithmetic does not.
"""

import torch
from torch import nn
from torch.nn import functional as F


class CiannaLeaky(nn.Module):
    """CIANNA's saturating leaky ReLU (slope 0.05 below 0 and above 800)."""

    def __init__(self, negative_slope=0.05, saturation=800.0):
        super().__init__()
        self.k = 1.0 - negative_slope
        self.s = saturation

    def forward(self, x):
        return x - self.k * torch.clamp(x, max=0.0) - self.k * torch.clamp(x - self.s, min=0.0)


class CiannaGroupNorm(nn.Module):
    """Group norm with one gamma/beta per group (CIANNA), eps 1e-3."""

    def __init__(self, channels, group_size, eps=1e-3):
        super().__init__()
        self.groups = channels // group_size
        self.eps = eps
        self.gamma = nn.Parameter(torch.ones(self.groups))
        self.beta = nn.Parameter(torch.zeros(self.groups))

    def forward(self, x):
        n, c, h, w = x.shape
        g = x.reshape(n, self.groups, -1)
        var, mean = torch.var_mean(g, dim=2, keepdim=True, unbiased=False)
        g = (g - mean) * torch.rsqrt(var + self.eps)
        g = g * self.gamma[None, :, None] + self.beta[None, :, None]
        return g.reshape(n, c, h, w)


class LeNet5(nn.Module):
    def __init__(self, in_channels=1, classes=10, size=28):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 8, 5, padding=2)
        self.conv2 = nn.Conv2d(8, 16, 5, padding=2)
        self.fc1 = nn.Linear(16 * (size // 4) ** 2, 256)
        self.fc2 = nn.Linear(256, 128)
        self.fc3 = nn.Linear(128, classes)
        self.drop1 = nn.Dropout(0.5)
        self.drop2 = nn.Dropout(0.2)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        x = self.drop1(F.relu(self.fc1(x)))
        x = self.drop2(F.relu(self.fc2(x)))
        return self.fc3(x)


class Spectra1D(nn.Module):
    def __init__(self, length=3776, in_channels=1, classes=7, filters=(8, 16, 32), dense=(256, 256)):
        super().__init__()
        convs, c, n = [], in_channels, length
        for f in filters:
            convs.append(nn.Conv1d(c, f, 8, stride=4, padding=2))
            c, n = f, (n + 4 - 8) // 4 + 1
        self.convs = nn.ModuleList(convs)
        fcs, d = [], c * n
        for u in dense:
            fcs.append(nn.Linear(d, u))
            d = u
        self.fcs = nn.ModuleList(fcs)
        self.out = nn.Linear(d, classes)
        self.drop = nn.Dropout(0.4)

    def forward(self, x):
        for conv in self.convs:
            x = F.relu(conv(x))
        x = torch.flatten(x, 1)
        for fc in self.fcs:
            x = self.drop(F.relu(fc(x)))
        return self.out(x)


def _bn(c):
    # Keras momentum 0.99 is PyTorch momentum 0.01.
    return nn.BatchNorm2d(c, eps=1.001e-5, momentum=0.01)


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = _bn(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = _bn(cout)
        self.short = None
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), _bn(cout))

    def forward(self, x):
        s = x if self.short is None else self.short(x)
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.bn2(self.conv2(x))
        return F.relu(x + s)


class ResNet18Small(nn.Module):
    """ResNet-18 with the 3x3 stride-1 stem of ``resnet18(small_inputs=True)``."""

    def __init__(self, in_channels=3, classes=10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, 64, 3, 1, 1, bias=False), _bn(64), nn.ReLU())
        blocks, c = [], 64
        for stage, f in enumerate((64, 128, 256, 512)):
            for b in range(2):
                blocks.append(BasicBlock(c, f, 2 if (b == 0 and stage > 0) else 1))
                c = f
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(512, classes)

    def forward(self, x):
        x = self.blocks(self.stem(x))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


# Same table as astrozoo.applications.darknet19.DARKNET19_BLOCKS (kept literal so
# that the peer does not import Keras).
DARKNET19_BLOCKS = (
    ((32, 3, 4),),
    ((64, 3, 8),),
    ((128, 3, 8), (64, 1, 8), (128, 3, 8)),
    ((256, 3, 16), (128, 1, 16), (256, 3, 16)),
    ((512, 3, 16), (256, 1, 16), (512, 3, 16), (256, 1, 16), (512, 3, 16)),
    ((1024, 3, 32), (512, 1, 16), (1024, 3, 32), (512, 1, 16), (1024, 3, 32)),
)


class Darknet19(nn.Module):
    """CIANNA's Darknet-19: conv -> leaky(0.05) -> per-group GroupNorm."""

    def __init__(self, in_channels=3, classes=1000):
        super().__init__()
        layers, c = [], in_channels
        for b, block in enumerate(DARKNET19_BLOCKS):
            for f, k, gs in block:
                layers += [nn.Conv2d(c, f, k, padding=k // 2), CiannaLeaky(), CiannaGroupNorm(f, gs)]
                c = f
            if b < len(DARKNET19_BLOCKS) - 1:
                layers.append(nn.MaxPool2d(2))
        self.body = nn.Sequential(*layers)
        self.head = nn.Conv2d(c, classes, 1)

    def forward(self, x):
        x = self.head(self.body(x))
        return torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)


def build(name, input_shape, classes):
    """The peer of astrozoo model ``name`` for a channels-last ``input_shape``."""
    if name == "lenet5":
        h, _, c = input_shape
        return LeNet5(c, classes, h)
    if name == "spectra1d":
        n, c = input_shape
        return Spectra1D(n, c, classes)
    if name == "resnet18":
        return ResNet18Small(input_shape[-1], classes)
    if name == "darknet19":
        return Darknet19(input_shape[-1], classes)
    raise ValueError(f"No PyTorch peer for {name!r}; expected lenet5, spectra1d, resnet18 or darknet19.")


def count_params(module):
    """(trainable parameters, all parameters + running statistics) of a module."""
    trainable = sum(p.numel() for p in module.parameters())
    buffers = sum(b.numel() for n, b in module.named_buffers() if not n.endswith("num_batches_tracked"))
    return trainable, trainable + buffers
