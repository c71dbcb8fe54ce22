"""Mean ± sd over pre-training seeds of the final probe scores of `lvmae runs show RUN --json` files named
PREFIX-NAME-sSEED.run.json (val and test top-1, LV-MAE and its step 0, attentive and attentive+pos).
Usage: python3 bench/settings_report.py DIR PREFIX NAME... (e.g. docs/learning-runs/2026-12-07 rc default nostd)."""
import glob, json, os, statistics as st, sys
from collections import defaultdict

folder, prefix = sys.argv[1], sys.argv[2]
for name in sys.argv[3:]:
    rows, losses = defaultdict(list), []
    for path in sorted(glob.glob(os.path.join(folder, f"{prefix}-{name}-s*.run.json"))):
        progress = json.load(open(path))["progress"]
        losses.append(progress.get("loss"))
        for p in progress["probes"]:
            if p["step"] == progress["totalSteps"] and p.get("top1") is not None and p["probe"] != "linear" and p["features"] != "majority":
                rows[(p["column"], p["probe"], p["features"])].append((100 * p["valTop1"], 100 * p["top1"]))
    print(f"== {prefix}-{name}: {len(losses)} seeds, final loss {', '.join(f'{l:.3f}' for l in losses)}")
    sd = lambda xs: st.stdev(xs) if len(xs) > 1 else 0.0
    for key in sorted(rows):
        val, test = [v for v, _ in rows[key]], [t for _, t in rows[key]]
        print(f"  {key[0]:12s} {key[1]:14s} {key[2]:9s} val {st.mean(val):5.1f} ± {sd(val):4.1f}   test {st.mean(test):5.1f} ± {sd(test):4.1f}")
