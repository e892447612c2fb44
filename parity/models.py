"""The PyTorch modules the Rust models mirror (same attribute names, so
state_dict keys equal the Rust VarStore keys)."""
import math

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


class PositionalEncoding(nn.Module):
    """Sinusoidal encoding of "Attention Is All You Need", the same float32
    operations as src/models/transformer.rs::positional_encoding."""

    def __init__(self, d_model):
        super().__init__()
        self.d_model = d_model

    def forward(self, seq_len, device):
        d = self.d_model
        position = torch.arange(seq_len, dtype=torch.float32, device=device).unsqueeze(1)
        div_term = torch.exp(torch.arange(0, d, 2, dtype=torch.float32, device=device) * (-math.log(10000.0) / d))
        angles = position * div_term
        pe = torch.zeros(seq_len, d, device=device)
        pe[:, 0::2] = torch.sin(angles)
        pe[:, 1::2] = torch.cos(angles)[:, : d // 2]
        return pe


class SeqTransformer(nn.Module):
    """input_proj Linear(input, d) + position encoding + dropout,
    nn.TransformerEncoder of post-norm ReLU layers (batch_first), head Linear(d, 1).
    Mirrors src/models/transformer.rs (same state_dict keys, same init draws)."""

    def __init__(self, input_size=10, d_model=64, heads=4, layers=2, ff_dim=128, dropout=0.1, causal=False):
        super().__init__()
        self.input_proj = nn.Linear(input_size, d_model)
        layer = nn.TransformerEncoderLayer(d_model, heads, ff_dim, dropout, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Linear(d_model, 1)
        self.pos = PositionalEncoding(d_model)
        self.drop = nn.Dropout(dropout)
        self.causal = causal

    def mask(self, seq_len, device):
        if not self.causal:
            return None
        return nn.Transformer.generate_square_subsequent_mask(seq_len, device=device)

    def embed(self, x):
        return self.drop(self.input_proj(x) + self.pos(x.size(1), x.device))

    def forward(self, x):
        mask = self.mask(x.size(1), x.device)
        h = self.encoder(self.embed(x), mask=mask, is_causal=self.causal if mask is not None else None)
        return self.head(h)

    def last_attention(self, x):
        """Per-head attention weights [batch, heads, seq, seq] of the last layer."""
        mask = self.mask(x.size(1), x.device)
        h = self.embed(x)
        for layer in self.encoder.layers[:-1]:
            h = layer(h, src_mask=mask)
        _, w = self.encoder.layers[-1].self_attn(h, h, h, attn_mask=mask, need_weights=True, average_attn_weights=False)
        return w


class SeqLSTM(nn.Module):
    """The tutorial's section 4.3 `Transformer` (really an LSTM), with its h0/c0
    bug fixed: the zero state is sized from the batch dimension, x.size(1) of the
    sequence-first input, not x.size(0). Takes batch-first [batch, seq, input]
    like the Rust model and transposes around the sequence-first LSTM."""

    def __init__(self, input_size=10, hidden_size=50, output_size=1):
        super().__init__()
        self.hidden_size = hidden_size
        self.encoder = nn.LSTM(input_size, hidden_size)
        self.decoder = nn.Linear(hidden_size, output_size)

    def forward(self, x):
        x = x.transpose(0, 1)  # [seq, batch, input], the tutorial's layout
        h0 = torch.zeros(1, x.size(1), self.hidden_size, device=x.device)
        c0 = torch.zeros(1, x.size(1), self.hidden_size, device=x.device)
        out, _ = self.encoder(x, (h0, c0))
        return self.decoder(out).transpose(0, 1)  # [batch, seq, 1]


# --- transformer_lm: nanoGPT's model.py (Karpathy, MIT), the GPT the Rust src/models/gpt.rs mirrors.
# Kept as nanoGPT writes it, except: forward returns the logits of every position (nanoGPT
# returns only the last one when no targets are given) and the loss is computed by the caller.


class LayerNorm(nn.Module):
    """LayerNorm with an optional bias (nanoGPT's)."""

    def __init__(self, ndim, bias):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(ndim))
        self.bias = nn.Parameter(torch.zeros(ndim)) if bias else None

    def forward(self, input):
        return F.layer_norm(input, self.weight.shape, self.weight, self.bias, 1e-5)


class CausalSelfAttention(nn.Module):
    def __init__(self, n_embd, n_head, dropout, bias):
        super().__init__()
        assert n_embd % n_head == 0
        self.c_attn = nn.Linear(n_embd, 3 * n_embd, bias=bias)
        self.c_proj = nn.Linear(n_embd, n_embd, bias=bias)
        self.attn_dropout = nn.Dropout(dropout)
        self.resid_dropout = nn.Dropout(dropout)
        self.n_head = n_head
        self.n_embd = n_embd
        self.dropout = dropout

    def forward(self, x):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=None, dropout_p=self.dropout if self.training else 0, is_causal=True)
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    def __init__(self, n_embd, dropout, bias):
        super().__init__()
        self.c_fc = nn.Linear(n_embd, 4 * n_embd, bias=bias)
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(4 * n_embd, n_embd, bias=bias)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    def __init__(self, n_embd, n_head, dropout, bias):
        super().__init__()
        self.ln_1 = LayerNorm(n_embd, bias=bias)
        self.attn = CausalSelfAttention(n_embd, n_head, dropout, bias)
        self.ln_2 = LayerNorm(n_embd, bias=bias)
        self.mlp = MLP(n_embd, dropout, bias)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        x = x + self.mlp(self.ln_2(x))
        return x


class GPT(nn.Module):
    """nanoGPT's GPT; defaults: its CPU "baby GPT" (4 layers, 4 heads, 128 wide, block 64)."""

    def __init__(self, vocab_size=65, block_size=64, n_layer=4, n_head=4, n_embd=128, dropout=0.0, bias=True):
        super().__init__()
        self.block_size = block_size
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(vocab_size, n_embd),
            wpe=nn.Embedding(block_size, n_embd),
            drop=nn.Dropout(dropout),
            h=nn.ModuleList([Block(n_embd, n_head, dropout, bias) for _ in range(n_layer)]),
            ln_f=LayerNorm(n_embd, bias=bias),
        ))
        self.lm_head = nn.Linear(n_embd, vocab_size, bias=False)
        self.transformer.wte.weight = self.lm_head.weight  # weight tying
        self.apply(self._init_weights)
        for pn, p in self.named_parameters():
            if pn.endswith("c_proj.weight"):
                torch.nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * n_layer))

    def _init_weights(self, module):
        if isinstance(module, nn.Linear):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                torch.nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(self, idx):
        """idx [batch, t] int64 -> logits [batch, t, vocab]."""
        b, t = idx.size()
        assert t <= self.block_size, f"sequence of {t} tokens, block size is only {self.block_size}"
        pos = torch.arange(0, t, dtype=torch.long, device=idx.device)
        x = self.transformer.drop(self.transformer.wte(idx) + self.transformer.wpe(pos))
        for block in self.transformer.h:
            x = block(x)
        x = self.transformer.ln_f(x)
        return self.lm_head(x)
