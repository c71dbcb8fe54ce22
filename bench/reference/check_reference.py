#!/usr/bin/env python3
"""Self-check of mae_reference.py's batching, run by bench/learning.sh before the reference trains (a second on a tiny model).

The reference encodes a batch of videos of different lengths with different masks by gathering each row's kept tokens to
its front and padding the rows to the longest. That must equal encoding each video alone, with nothing but its kept
tokens: same [CLS] and token outputs, and the batch's masked MSE equal to the token-weighted mean of the per-video ones.
Exit 0 when it holds, 1 with the largest difference when it does not.
"""
import sys

import torch

import mae_reference as ref


def main():
    torch.manual_seed(0)
    d, tolerance = 24, 1e-5
    model = ref.MaskedEmbeddingAutoencoder(d, 32, 2, 4, 16, 1, 4, 64).eval()
    arrays = [torch.randn(length, d).numpy() for length in (9, 23, 4, 17)]
    x, valid = ref.batch_of(arrays, 64)
    masked = ref.random_mask(valid, 0.4, torch.Generator().manual_seed(1))
    keep = valid & ~masked
    worst = 0.0
    with torch.no_grad():
        latent, slot, free = model.encode(x, keep)
        for i in range(len(arrays)):
            kept = keep[i].nonzero().squeeze(1)
            alone, _, _ = model.encode(x[i:i + 1, :len(arrays[i])], keep[i:i + 1, :len(arrays[i])])
            worst = max(worst, (latent[i, 0] - alone[0, 0]).abs().max().item())   # [CLS]
            rows = latent[i, 1:1 + len(kept)]
            if not torch.equal(slot[i, :len(kept)], kept) or bool(free[i, :len(kept)].any()):
                print(f"check_reference: video {i}: its kept tokens are not the first slots of its row", file=sys.stderr)
                return 1
            worst = max(worst, (rows - alone[0, 1:]).abs().max().item())
        loss = model(x, valid, masked).item()
        per_video = [(model(x[i:i + 1, :len(a)], valid[i:i + 1, :len(a)], masked[i:i + 1, :len(a)]).item(), int(masked[i].sum()))
                     for i, a in enumerate(arrays)]
        weighted = sum(l * n for l, n in per_video) / sum(n for _, n in per_video)
        worst = max(worst, abs(loss - weighted))
    if worst > tolerance:
        print(f"check_reference: batched and one-video encodings differ by {worst:.2e} (tolerance {tolerance:.0e})", file=sys.stderr)
        return 1
    print(f"check_reference: batched encoding equals one-video encoding (largest difference {worst:.1e})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
