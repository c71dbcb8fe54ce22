#!/usr/bin/env python3
"""Summarises the learning bench's logs (bench/learning.sh) into docs/LEARNING.md: per benchmark and task, each feature
set's probe score as the mean ± sd over pre-training seeds (each seed's score is itself the mean over probe seeds), the
score along training, and the verdict (LV-MAE must beat raw attentive+pos and its own step 0 by more than the sum of sds)."""
import argparse, glob, json, os, re, statistics, sys
from collections import defaultdict


def parse_probe_log(path):
    """Rows of `lvmae probe` redirected output (tab-separated): {(features, probe): (test, val)} in percent."""
    rows = {}
    with open(path) as f:
        lines = [l.rstrip("\n") for l in f]
    header = None
    for line in lines:
        cells = line.split("\t")
        if cells[0] == "column":
            header = cells
            continue
        if header is None or len(cells) != len(header):
            continue
        test = re.match(r"([\d.]+)%", cells[3])
        val = re.match(r"([\d.]+)%", cells[4])
        sd = re.search(r"± ([\d.]+)", cells[3])
        rows[(cells[1], cells[2])] = (float(test.group(1)) if test else None, float(val.group(1)) if val else None, float(sd.group(1)) if sd else 0.0)
    return rows


def stats(values):
    values = [v for v in values if v is not None]
    if not values:
        return None, None, 0
    return statistics.mean(values), (statistics.stdev(values) if len(values) > 1 else 0.0), len(values)


def fmt(mean, sd, n):
    return "-" if mean is None else f"{mean:.1f} ± {sd:.1f}" + ("" if n >= 3 else f" (n={n})")


def reference_label(steps, kind):
    """A reference row's label: step 0 is the untrained encoder, every trained length its own row."""
    return f"PyTorch reference step 0 {kind}" if int(steps) == 0 else f"PyTorch reference {steps} steps {kind}"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--logs", required=True)
    p.add_argument("--stamp", required=True)
    p.add_argument("--reference-width", type=int, default=0)
    p.add_argument("--reference-input-scale", default="sqrt-d", choices=["1", "sqrt-d"])
    p.add_argument("--source", help="what made the logs, for the header (default: this `./bench.sh learning` run)")
    p.add_argument("--out", required=True)
    a = p.parse_args()

    # scores[(bench, task, kind)][row] = list over seeds of (test, val)
    scores = defaultdict(lambda: defaultdict(list))
    along = defaultdict(lambda: defaultdict(list))   # (bench, task) -> step -> [lv-mae attentive test]
    timing = defaultdict(list)
    bench_steps = defaultdict(set)   # bench -> the runs' --steps
    reference_steps = defaultdict(set)   # bench -> the reference's step counts (0 = untrained)
    for path in sorted(glob.glob(os.path.join(a.logs, f"*-{a.stamp}.run.json"))):
        m = re.match(r"(.+)-s(\d+)-" + a.stamp + r"\.run\.json", os.path.basename(path))
        bench, seed = m.group(1), m.group(2)
        with open(path) as f:
            progress = json.load(f)["progress"]
        final = [p for p in progress["probes"] if p["step"] == progress["totalSteps"] and p.get("top1") is not None]
        for p in final:
            kind = p["probe"] if p["features"] in ("lv-mae", "lv-mae@0") else None
            # The raw attentive+pos baseline joins the attentive tables and has its own (where LV-MAE gets the same probe).
            kinds = [kind] if kind else (["attentive", "attentive+pos", "linear"] if p["features"] == "majority" else
                                        ["attentive", "attentive+pos"] if p["probe"] == "attentive+pos" else [p["probe"]])
            label = {"majority": "majority", "raw": f"raw {p['probe']}", "lv-mae@0": f"LvMae step 0 {p['probe']}", "lv-mae": f"LvMae default {p['probe']}"}[p["features"]]
            for k in kinds:
                scores[(bench, p["column"], k)][label].append((100 * p["top1"], 100 * p["valTop1"] if p.get("valTop1") is not None else None,
                                                               100 * (p.get("top1Sd") or 0)))
        # The reference's probe logs, ref-BENCH-sSEED-stepsN.TASK.KIND.probe.log: step 0 (untrained) and every trained
        # length found (a benchmark may have the reference at several budgets, e.g. 1000 and the runs' 2000 steps).
        tasks = {p["column"] for p in final}
        for ref in sorted(glob.glob(os.path.join(a.logs, f"ref-{bench}-s{seed}-steps*.probe.log"))):
            steps, task, kind = re.match(r".+-steps(\d+)\.([^.]+)\.(.+)\.probe\.log$", os.path.basename(ref)).groups()
            if task not in tasks or kind not in ("attentive", "attentive+pos"):
                continue
            reference_steps[bench].add(int(steps))
            label = reference_label(steps, kind)
            for (features, probe), value in parse_probe_log(ref).items():
                if features == "features" and probe == kind:
                    scores[(bench, task, kind)][label].append(value)
    for path in sorted(glob.glob(os.path.join(a.logs, f"*-{a.stamp}.run.json"))):
        bench = re.match(r"(.+)-s\d+-" + a.stamp, os.path.basename(path)).group(1)
        with open(path) as f:
            run = json.load(f)
        config = run["progress"]["config"]
        bench_steps[bench].add(config["steps"])
        probe_every = config.get("probeEvery") or config["steps"] // 4   # lv-mae@0 is recorded at the first probe
        for point in run.get("probes", []):
            column, features, probe = point["key"].split("/")
            if features == "lv-mae" and probe.startswith("attentive") and point.get("top1") is not None:
                along[(bench, column, probe)][point["step"]].append(100 * point["top1"])
            if features == "lv-mae@0" and probe.startswith("attentive") and point.get("top1") is not None and point["step"] == probe_every:
                along[(bench, column, probe)][0].append(100 * point["top1"])
    for path in sorted(glob.glob(os.path.join(a.logs, f"*-{a.stamp}.train.log"))):
        bench = re.match(r"(.+)-s\d+-" + a.stamp, os.path.basename(path)).group(1)
        with open(path) as f:
            for line in f:
                if line.startswith("train_seconds"):
                    timing[bench].append(int(line.split()[1]))

    has_reference = any(label.startswith("PyTorch") for rows in scores.values() for label in rows)
    steps = "; ".join(f"{b} {'/'.join(str(n) for n in sorted(ns))}" for b, ns in sorted(bench_steps.items()))
    ref_steps = "; ".join(f"{b} {'/'.join(str(n) for n in sorted(ns) if n)}" for b, ns in sorted(reference_steps.items()))
    source = a.source or f"`./bench.sh learning` (bench/learning.sh, bench/learning_report.py), run {a.stamp} UTC"
    out = ["# Learning bench", "",
           f"_Written by bench/learning_report.py from {source}. LvMae: `lvmae train --steps N --seed S`, every other option "
           f"default; steps per benchmark: {steps}"
           + (f". PyTorch reference (steps per benchmark: {ref_steps}) at width {a.reference_width or 'd (the embedding width, as in the paper)'}, "
              + ("inputs of norm sqrt(d) (`--input-scale sqrt-d`: the positions' scale, see \"The PyTorch reference\")" if a.reference_input_scale == "sqrt-d"
                 else "the paper's unit-norm inputs") if has_reference else ", no PyTorch reference in these logs")
           + "._", "",
           "Every LvMae and reference figure is the mean ± sd over the pre-training seeds (each seed's figure is the mean over 3 probe "
           "seeds, the same probe seeds in every run); majority and raw baselines have no pre-training, so their ± is over the probe seeds. "
           "Top-1 in %, test and val. Settings were chosen on val (docs/LEARNING.md, \"How the defaults were chosen\"); the test split "
           "is read only here.", ""]
    for (bench, task, kind) in sorted(scores):
        rows = scores[(bench, task, kind)]
        out += [f"## {bench}: {task}, {kind} probe", "", "| features | test top-1 | val top-1 | seeds |", "|---|---:|---:|---:|"]
        references = [reference_label(n, kind) for n in sorted(reference_steps[bench])]
        longest_trained = [label for n, label in zip(sorted(reference_steps[bench]), references) if n and label in rows][-1:]
        order = list(dict.fromkeys(["majority", f"raw {kind}", "raw attentive+pos", f"LvMae step 0 {kind}", *references, f"LvMae default {kind}"]))
        def summary(label):
            """Test mean ± sd: over pre-training seeds for models; a baseline without one (majority, raw) keeps its
            probe-seed sd (the same probe seeds in every run, so its spread over runs is 0)."""
            t = stats([v[0] for v in rows.get(label, [])])
            if label == "majority" or label.startswith("raw "):
                t = (t[0], statistics.mean(v[2] for v in rows[label]) if rows.get(label) else None, t[2])
            return t
        for label in order:
            if label not in rows:
                continue
            t = summary(label)
            v = stats([v[1] for v in rows[label]])
            out.append(f"| {label} | {fmt(*t)} | {fmt(*v)} | {t[2]} |")
        mine = summary(f"LvMae default {kind}")
        verdicts = []
        # The reference target is judged against its longest training (the closest to LvMae's budget).
        for other in dict.fromkeys((f"raw {kind}", "raw attentive+pos", f"LvMae step 0 {kind}", *longest_trained)):
            o = summary(other)
            if mine[0] is None or o[0] is None:
                continue
            gap = mine[0] - o[0]
            if other.startswith("PyTorch"):
                verdicts.append(f"vs {other}: {gap:+.1f} points ({'meets' if gap >= -2 else 'misses'} the target default >= reference - 2)")
            else:
                verdicts.append(f"vs {other}: {gap:+.1f} points, sds {mine[1] + o[1]:.1f}: {'beats' if gap > mine[1] + o[1] else 'does NOT beat'}")
        if verdicts:
            out += ["", "LvMae default " + "; ".join(verdicts) + "."]
        out.append("")
    for (bench, task, probe) in sorted(along):
        points = along[(bench, task, probe)]
        out += [f"## {bench}: {task}, LvMae {probe} along training", "", "| step | test top-1 |", "|---:|---:|"]
        for step in sorted(points):
            out.append(f"| {step} | {fmt(*stats(points[step]))} |")
        out.append("")
    if timing:
        out += ["## Time", ""] + [f"- {b}: `lvmae train` incl. its probes {statistics.mean(t):.0f} s per run (mean of {len(t)})" for b, t in sorted(timing.items())] + [""]
    text = "\n".join(out)
    existing = open(a.out).read() if os.path.exists(a.out) else ""
    marker = "<!-- how the defaults were chosen -->"
    tail = existing[existing.index(marker):] if marker in existing else marker + "\n"
    with open(a.out, "w") as f:
        f.write(text + "\n" + tail)
    print(text)


if __name__ == "__main__":
    sys.exit(main())
