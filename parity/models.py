"""The PyTorch modules the Rust models mirror (same attribute names, so
state_dict keys equal the Rust VarStore keys)."""
import torch
import torch.nn as nn
import torch.nn.functional as F  # the tutorial forgot this import


class CNN(nn.Module):
    """The tutorial's CNN (section 4.1). `logit_relu=True` keeps its
    `F.relu(self.fc(x))` on the logits; False drops it."""

    def __init__(self, logit_relu=True, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.pool = nn.MaxPool2d(2, 2)
        self.fc = nn.Linear(64 * 7 * 7, num_classes)
        self.logit_relu = logit_relu

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = x.view(-1, 64 * 7 * 7)
        x = self.fc(x)
        return F.relu(x) if self.logit_relu else x
