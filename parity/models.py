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


class RNN(nn.Module):
    """The tutorial's RNN (section 4.2) with a choice of cell: `cell` is
    "rnn" (the tutorial's nn.RNN), "lstm" or "gru". Batch-first input
    [batch, time, input_size]; fc on the last time step."""

    CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}

    def __init__(self, input_size=1, hidden_size=10, output_size=1, cell="rnn", num_layers=1):
        super().__init__()
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.cell = cell
        self.rnn = self.CELLS[cell](input_size, hidden_size, num_layers=num_layers, batch_first=True)
        self.fc = nn.Linear(hidden_size, output_size)

    def forward(self, x):
        h0 = torch.zeros(self.num_layers, x.size(0), self.hidden_size).to(x.device)
        hx = (h0, torch.zeros_like(h0)) if self.cell == "lstm" else h0
        out, _ = self.rnn(x, hx)
        return self.fc(out[:, -1, :])
