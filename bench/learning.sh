#!/usr/bin/env bash
# ./bench.sh learning [--quick] [--seeds "1 2 3"] [--steps N] [--probe-every N] [--benchmarks "recipe recipe-context recipe-noisy"] [--no-reference]
#                     [--reference-steps N] [--reference-width W (0 = the embedding width, the paper's)] [--reference-input-scale sqrt-d|1]
#                     [--no-product --stamp S]
# The learning bench (issue 24): does pre-training beat the raw embeddings on order-dependent data, through the product
# path? For each benchmark (`lvmae synth-embeddings --kind ...`): import it into a local cluster (`lvmae up`), then per
# pre-training seed `lvmae train` with defaults (only --steps, --seed and --probe-every set), probed along training, and
# `lvmae probe --task T --kind attentive|linear` at the end: LV-MAE vs the same model untrained (step 0), the majority
# class, raw attentive, raw attentive+pos. The PyTorch reference (bench/reference/mae_reference.py, Debian's
# python3-torch) trains on the same files with the paper's recipe and its features go through `lvmae probe --features`
# (the same probe code). bench/learning_report.py writes docs/LEARNING.md: mean ± sd over the pre-training seeds.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
seeds="1 2 3"; steps=2000; benchmarks="recipe recipe-context recipe-noisy"; reference=1; product=1; ref_steps=""; ref_width=0; ref_scale="sqrt-d"; stamp=""; probe_every=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) steps=400; seeds="1 2 3" ;;
    --reference-width) ref_width="$2"; shift ;;
    # sqrt-d (default): the reference's tokens at the scale of its sin-cos positions, the peer LvMae must match; 1: the
    # paper's unit-norm tokens, which the positions swamp (chance-level features on these benchmarks, docs/LEARNING.md).
    --reference-input-scale) ref_scale="$2"; shift ;;
    --seeds) seeds="$2"; shift ;;
    --steps) steps="$2"; shift ;;
    --probe-every) probe_every="$2"; shift ;;   # default steps / 4 (probes at 25/50/75/100%); = steps: step 0 and the end only
    --reference-steps) ref_steps="$2"; shift ;;
    --benchmarks) benchmarks="$2"; shift ;;
    --no-reference) reference=0 ;;
    --no-product) product=0 ;;
    --stamp) stamp="$2"; shift ;;   # add to an earlier run's logs (e.g. --no-product to add the reference later)
    -h|--help) sed -n '2,4p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "learning bench: unknown option $1 (--help lists them)" >&2; exit 2 ;;
  esac
  shift
done
ref_steps="${ref_steps:-$steps}"
probe_every="${probe_every:-$((steps / 4))}"
work="$root/.lvmae/learning"
logs="$work/logs"
mkdir -p "$logs"
stamp="${stamp:-$(date -u +%Y%m%d%H%M%S)}"

if [ "$reference" = 1 ] && ! /usr/bin/python3 -c 'import torch, numpy' 2>/dev/null; then
  echo "learning bench: installing python3-torch, python3-numpy, libopenblas0-pthread (apt) for the reference" >&2
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends python3-torch python3-numpy libopenblas0-pthread >/dev/null
fi
# the reference's batched encoding must equal encoding each video alone (bench/reference/check_reference.py, a second)
if [ "$reference" = 1 ]; then (cd bench/reference && /usr/bin/python3 check_reference.py) || exit 1; fi

if [ "$product" = 1 ]; then
  ./lvmae down >/dev/null 2>&1 || true
  # A fresh storage and freshly generated data every run: data left by an older generator would be trained on silently,
  # and the same video ids with other content are refused at import.
  rm -rf "$work/azurite"
  ./lvmae up --detach --data "$work/azurite"
  trap './lvmae down >/dev/null 2>&1 || true' EXIT
fi

for bench in $benchmarks; do
  data="$work/$bench"
  rm -rf "$data"; ./lvmae synth-embeddings --kind "$bench" --out "$data" > /dev/null   # deterministic: a --no-product run gets the same files
  [ "$product" = 1 ] && ./lvmae import-embeddings "$data" --labels "$data/labels.csv" --encoder-name "$bench" > "$logs/$bench.import.log"
  tasks="$(head -1 "$data/labels.csv" | tr ',' '\n' | grep -v -e '^videoId$' -e '^split$' | tr '\n' ' ')"
  for seed in $seeds; do
    run="$bench-s$seed-$stamp"
    if [ "$product" = 1 ]; then
    echo "== $bench seed $seed: lvmae train --run $run --encoder $bench --steps $steps --seed $seed --probe-every $probe_every"
    start=$(date +%s)
    ./lvmae train --run "$run" --encoder "$bench" --steps "$steps" --seed "$seed" --probe-every "$probe_every" --wait > "$logs/$run.train.log"
    echo "train_seconds $(( $(date +%s) - start ))" >> "$logs/$run.train.log"
    ./lvmae runs show "$run" --json > "$logs/$run.run.json"
    # The run probed its last checkpoint on every column (linear + attentive, step 0, raw, majority): the report reads those.
    # `lvmae probe` gives the same table on demand; once per run, for the first task, as a user would.
    first_task="${tasks%% *}"
    ./lvmae probe --run "$run" --task "$first_task" --kind attentive > "$logs/$run.$first_task.attentive.probe.log"
    fi
    if [ "$reference" = 1 ]; then
      for rsteps in 0 "$ref_steps"; do
        out="$work/reference/$bench-s$seed-steps$rsteps"
        echo "== $bench seed $seed: PyTorch reference, $rsteps steps"
        start=$(date +%s)
        /usr/bin/python3 bench/reference/mae_reference.py --data "$data" --labels "$data/labels.csv" --out "$out" --seed "$seed" --steps "$rsteps" --width "$ref_width" --input-scale "$ref_scale" \
          $([ "$ref_width" != 0 ] && echo --decoder-width "$ref_width") \
          > "$logs/ref-$bench-s$seed-steps$rsteps.train.log"
        echo "train_seconds $(( $(date +%s) - start ))" >> "$logs/ref-$bench-s$seed-steps$rsteps.train.log"
        for task in $tasks; do
          for kind in attentive attentive+pos; do   # the reference's features get both probes LvMae's get
            ./lvmae probe --features "$out" --labels "$data/labels.csv" --task "$task" --kind "$kind" > "$logs/ref-$bench-s$seed-steps$rsteps.$task.$kind.probe.log"
          done
        done
      done
    fi
  done
done
/usr/bin/python3 bench/learning_report.py --logs "$logs" --stamp "$stamp" --reference-width "$ref_width" --reference-input-scale "$ref_scale" --out docs/LEARNING.md
