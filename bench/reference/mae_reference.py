#!/usr/bin/env python3
"""A reference LV-MAE in PyTorch, written from the paper (masked-embedding autoencoder over a long video's sequence of
5-second segment embeddings), to compare LvMae against on the same data under the same probes.

Recipe: segment embeddings L2-normalised; [CLS] + fixed 1-D sin-cos positions; a pre-norm ViT encoder over [CLS] and
the visible tokens ([PAD] slots masked out of attention); a shallower decoder over the projected latent tokens plus a
shared mask token at every masked position; MSE on the masked tokens only; random masking; AdamW (betas 0.9 / 0.95,
weight decay 0.05 on weights, none on biases and norms), linear warm-up then cosine decay; whole videos up to
--max-tokens segments.

Input: a folder of <videoId>.npy [n, d] and a labels CSV (videoId first, a 'split' column: train / pretrain /
unlabeled / unlabelled pre-train, val / test are held out). Output: <videoId>.npy token features [n, W] and
<videoId>.cls.npy [W] of the trained encoder (no masking) for every video, which `lvmae probe --features` scores with
the product's own probes. --steps 0 writes the untrained encoder's features.
"""
import argparse, csv, math, os, sys, time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

PRETRAIN_SPLITS = {"train", "pretrain", "unlabeled", "unlabelled"}


def sincos(positions, dim):
    """[positions + 1, dim]: row 0 (the [CLS] slot) zeros, segment j at row j + 1; [sin | cos] of p * 10000^(-i/(dim/2))."""
    half = dim // 2
    omega = 1.0 / 10000 ** (np.arange(half, dtype=np.float64) / half)
    angles = np.arange(positions, dtype=np.float64)[:, None] * omega[None, :]
    table = np.concatenate([np.sin(angles), np.cos(angles)], axis=1)
    return torch.tensor(np.concatenate([np.zeros((1, dim)), table]), dtype=torch.float32)


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(norm(x)), x + mlp(norm(x)); key padding mask True = ignore."""

    def __init__(self, dim, heads, mlp_ratio=4):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(dim, dim * mlp_ratio), nn.GELU(), nn.Linear(dim * mlp_ratio, dim))

    def forward(self, x, pad):
        h = self.norm1(x)
        x = x + self.attn(h, h, h, key_padding_mask=pad, need_weights=False)[0]
        return x + self.mlp(self.norm2(x))


class MaskedEmbeddingAutoencoder(nn.Module):
    def __init__(self, d, width, depth, heads, dec_width, dec_depth, dec_heads, max_tokens):
        super().__init__()
        self.embed = nn.Identity() if width == d else nn.Linear(d, width)
        self.cls = nn.Parameter(torch.zeros(1, 1, width))
        self.register_buffer("pos", sincos(max_tokens, width))
        self.blocks = nn.ModuleList([Block(width, heads) for _ in range(depth)])
        self.norm = nn.LayerNorm(width, eps=1e-6)
        self.dec_embed = nn.Linear(width, dec_width)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dec_width))
        self.register_buffer("dec_pos", sincos(max_tokens, dec_width))
        self.dec_blocks = nn.ModuleList([Block(dec_width, dec_heads) for _ in range(dec_depth)])
        self.dec_norm = nn.LayerNorm(dec_width, eps=1e-6)
        self.pred = nn.Linear(dec_width, d)
        nn.init.normal_(self.cls, std=0.02)
        nn.init.normal_(self.mask_token, std=0.02)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def encode(self, x, keep):
        """x [B, N, d] normalised; keep [B, N] bool (visible and valid). As in MAE, the encoder sees only the kept tokens:
        each row's kept tokens (with their positions) are gathered to its front in order and padded to the longest row.
        Returns latent [B, 1 + K, W] ([CLS] first), slot [B, K] (the token index of each slot) and free [B, K] (True =
        padding slot, whose output is meaningless)."""
        b, n, _ = x.shape
        h = self.embed(x) + self.pos[1:n + 1]
        counts = keep.sum(1)
        k = max(1, int(counts.max()))
        slot = torch.sort((~keep).to(torch.uint8), dim=1, stable=True).indices[:, :k]   # kept indices first, in order
        h = torch.gather(h, 1, slot.unsqueeze(-1).expand(-1, -1, h.shape[-1]))
        free = torch.arange(k).unsqueeze(0) >= counts.unsqueeze(1)
        h = torch.cat([(self.cls + self.pos[:1]).expand(b, -1, -1), h], 1)
        pad = torch.cat([torch.zeros(b, 1, dtype=torch.bool), free], 1)
        for block in self.blocks:
            h = block(h, pad)
        return self.norm(h), slot, free

    def forward(self, x, valid, masked):
        keep = valid & ~masked
        latent, slot, _ = self.encode(x, keep)
        b, n, _ = x.shape
        z = self.dec_embed(latent)
        # each kept token's latent goes back to its position; masked positions get the mask token; padding is ignored
        placed = torch.zeros(b, n, z.shape[-1]).scatter(1, slot.unsqueeze(-1).expand(-1, -1, z.shape[-1]), z[:, 1:])
        tokens = torch.where(keep.unsqueeze(-1), placed, self.mask_token.expand(b, n, -1))
        h = torch.cat([z[:, :1], tokens], 1) + self.dec_pos[:n + 1]
        pad = torch.cat([torch.zeros(b, 1, dtype=torch.bool), ~valid], 1)
        for block in self.dec_blocks:
            h = block(h, pad)
        pred = self.pred(self.dec_norm(h))[:, 1:]
        per_token = ((pred - x) ** 2).mean(-1)
        return (per_token * masked).sum() / masked.sum().clamp_min(1)


def load(data_dir, labels_csv):
    with open(labels_csv, newline="") as f:
        rows = list(csv.reader(line for line in f if not line.startswith("#")))
    header, rows = rows[0], [r for r in rows[1:] if r and r[0]]
    split_col = header.index("split") if "split" in header else None
    videos = []
    for r in rows:
        split = r[split_col].strip().lower() if split_col is not None else "train"
        videos.append((r[0], np.load(os.path.join(data_dir, r[0] + ".npy")).astype(np.float32), split in PRETRAIN_SPLITS))
    return videos


INPUT_SCALE = 1.0   # --input-scale: 1 = the paper's unit-norm tokens; sqrt-d = norm sqrt(d), per-dimension RMS 1 like the positions


def batch_of(arrays, max_tokens):
    n = min(max(a.shape[0] for a in arrays), max_tokens)
    d = arrays[0].shape[1]
    x = torch.zeros(len(arrays), n, d)
    valid = torch.zeros(len(arrays), n, dtype=torch.bool)
    for i, a in enumerate(arrays):
        k = min(a.shape[0], n)
        x[i, :k] = torch.from_numpy(a[:k])
        valid[i, :k] = True
    return F.normalize(x, dim=-1) * INPUT_SCALE * valid.unsqueeze(-1), valid


def random_mask(valid, ratio, gen):
    """Masks int(len * ratio) (at least one left visible) random valid tokens per sample."""
    masked = torch.zeros_like(valid)
    for i in range(valid.shape[0]):
        length = int(valid[i].sum())
        count = length - max(1, int(length * (1 - ratio)))
        masked[i, torch.randperm(length, generator=gen)[:count]] = True
    return masked


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True)
    p.add_argument("--labels", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--weight-decay", type=float, default=0.05)
    p.add_argument("--warmup", type=float, default=0.1, help="warm-up as a fraction of the steps")
    p.add_argument("--ratio", type=float, default=0.4)
    p.add_argument("--width", type=int, default=0, help="encoder width (0 = the embedding width, the paper's)")
    p.add_argument("--depth", type=int, default=4)
    p.add_argument("--heads", type=int, default=8)
    p.add_argument("--decoder-width", type=int, default=256)
    p.add_argument("--decoder-depth", type=int, default=2)
    p.add_argument("--max-tokens", type=int, default=256)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--input-scale", choices=["1", "sqrt-d"], default="1",
                   help="scale of the L2-normalised tokens (inputs and targets): 1 (the paper's) or sqrt(d) (per-dimension RMS 1, "
                        "the sin-cos positions' scale; LvMae's InputScaling.SqrtDim)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)

    videos = load(args.data, args.labels)
    d = videos[0][1].shape[1]
    global INPUT_SCALE
    INPUT_SCALE = math.sqrt(d) if args.input_scale == "sqrt-d" else 1.0
    width = args.width or d
    model = MaskedEmbeddingAutoencoder(d, width, args.depth, args.heads, args.decoder_width, args.decoder_depth, 8, args.max_tokens)
    decay = [q for name, q in model.named_parameters() if q.ndim > 1 and not name.endswith("bias")]
    no_decay = [q for name, q in model.named_parameters() if not (q.ndim > 1 and not name.endswith("bias"))]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.95))
    warmup = max(1, round(args.steps * args.warmup))
    train = [v for v in videos if v[2]]
    print(f"reference: {len(train)} pre-training videos of {len(videos)}, d={d}, width {width}, {args.steps} steps", flush=True)
    order, at, started = [], 0, time.time()
    for step in range(args.steps):
        lr = args.lr * step / warmup if step < warmup else args.lr * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, args.steps - warmup)))
        for group in opt.param_groups:
            group["lr"] = lr
        if at + args.batch > len(order):
            order, at = torch.randperm(len(train), generator=gen).tolist(), 0
        x, valid = batch_of([train[i][1] for i in order[at:at + args.batch]], args.max_tokens)
        at += args.batch
        loss = model(x, valid, random_mask(valid, args.ratio, gen))
        opt.zero_grad()
        loss.backward()
        opt.step()
        if (step + 1) % 100 == 0 or step + 1 == args.steps:
            print(f"step {step + 1}/{args.steps} loss {loss.item():.4f} lr {lr:.2e} {time.time() - started:.0f}s", flush=True)

    os.makedirs(args.out, exist_ok=True)
    model.eval()
    # videos longer than the context go window by window, as LvMae's Representation does; windows are encoded in batches
    jobs = []
    for v, (_, array, _) in enumerate(videos):
        n = array.shape[0]
        windows = math.ceil(n / args.max_tokens)
        bounds = [n * w // windows for w in range(windows + 1)]
        jobs += [(v, a, b) for a, b in zip(bounds, bounds[1:])]
    jobs.sort(key=lambda j: j[2] - j[1])   # similar lengths together: little padding
    tokens = [dict() for _ in videos]
    cls = [np.zeros(width, dtype=np.float32) for _ in videos]
    with torch.no_grad():
        for start in range(0, len(jobs), 32):
            chunk = jobs[start:start + 32]
            x, valid = batch_of([videos[v][1][a:b] for v, a, b in chunk], args.max_tokens)
            latent = model.encode(x, valid)[0].numpy()   # valid tokens are each row's prefix: slot i is token i
            for i, (v, a, b) in enumerate(chunk):
                tokens[v][a] = latent[i, 1:1 + b - a]
                cls[v] += latent[i, 0] * (b - a) / videos[v][1].shape[0]
    for v, (vid, _, _) in enumerate(videos):
        np.save(os.path.join(args.out, vid + ".npy"), np.concatenate([tokens[v][a] for a in sorted(tokens[v])]).astype(np.float32))
        np.save(os.path.join(args.out, vid + ".cls.npy"), cls[v])
    print(f"wrote {len(videos)} feature files to {args.out}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
