"""Mean ± sd over pre-training seeds of the probe scores of `lvmae runs show RUN --json` files named
PREFIX-NAME-sSEED.run.json (val and test top-1, LV-MAE and its step 0, attentive and attentive+pos), at the run's last
checkpoint or at --step N. --val-only hides test, for choosing settings.
Usage: python3 bench/settings_report.py [--step N] [--val-only] DIR PREFIX NAME...
(e.g. docs/learning-runs/2026-12-07 rc default nostd)."""
import argparse, glob, json, os, statistics as st
from collections import defaultdict

parser = argparse.ArgumentParser()
parser.add_argument("--step", type=int, help="checkpoint to report (default: each run's last)")
parser.add_argument("--val-only", action="store_true", help="print val only")
parser.add_argument("folder")
parser.add_argument("prefix")
parser.add_argument("names", nargs="+")
args = parser.parse_args()

sd = lambda xs: st.stdev(xs) if len(xs) > 1 else 0.0
for name in args.names:
    rows, losses = defaultdict(list), []
    for path in sorted(glob.glob(os.path.join(args.folder, f"{args.prefix}-{name}-s*.run.json"))):
        progress = json.load(open(path))["progress"]
        step = args.step if args.step is not None else progress["totalSteps"]
        losses.append(progress.get("loss"))
        for p in progress["probes"]:
            if p["step"] == step and p.get("top1") is not None and p["probe"] != "linear" and p["features"] != "majority":
                rows[(p["column"], p["probe"], p["features"])].append((100 * p["valTop1"], 100 * p["top1"]))
    at = f"step {args.step}" if args.step is not None else "last checkpoint"
    print(f"== {args.prefix}-{name}: {len(losses)} seeds, {at}, final loss {', '.join(f'{l:.3f}' for l in losses)}")
    for key in sorted(rows):
        val, test = [v for v, _ in rows[key]], [t for _, t in rows[key]]
        line = f"  {key[0]:12s} {key[1]:14s} {key[2]:9s} n={len(val)} val {st.mean(val):5.1f} ± {sd(val):4.1f}"
        if not args.val_only:
            line += f"   test {st.mean(test):5.1f} ± {sd(test):4.1f}"
        print(line)
