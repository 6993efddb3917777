#!/usr/bin/env bash
# Training-step speed and memory on the CPU, side by side with the TRL-style Python step
# (../shared/bench/kto_step_bench.py, Debian's python3-torch), in ONE invocation on the same machine.
#
#   scripts/bench_train.sh            step benchmark: tiny, then Qwen3-0.6B shapes (model card: micro-batch
#                                     2 x 512, prompt 256, LoRA r 16 all-linear, gradient checkpointing on)
#   scripts/bench_train.sh --e2e      `prospect train` end to end on a random Qwen3-0.6B-shaped model over a
#                                     generated UltraFeedback-like set (card config: 2 x 8 accumulation)
#
# Both sides: the same shapes, threads, Enhanced KTO, fp32; median of the timed steps (warm-up excluded).
# Prospect runs three ways: online reference whole rows (share off), online reference with prompt-prefix
# sharing, precomputed reference + sharing. Ratios: tokens/s (Prospect / Python), peak RSS
# (Prospect / Python), fraction of the fp32 GEMM peak measured in the same process after the steps,
# user/sys CPU seconds and minor page faults per step.
#
# Environment: THREADS (default: cores), STEPS (tiny timed steps, 5), QWEN_STEPS (0.6B timed steps, 2),
# QWEN_LAYERS (default 28; fewer for a quick look), SHAPES ("tiny qwen3-0.6b"), VARIANTS
# ("online shared precomputed"), OUT (runs/bench_train), PROSPECT (build/prospect), PY_BENCH (the Python step).
# --e2e: E2E_STEPS (optimizer steps, 2), E2E_GA (accumulation, 8), E2E_LAYERS (28), E2E_PAIRS (train pairs, 16: the 32 examples of 2 optimizer steps of 2 x 8),
# E2E_VARIANTS ("plain shared precomputed_shared"), E2E_PREP_PAIRS (rows for the data-preparation timing, 4000).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
P="${PROSPECT:-$ROOT/build/prospect}"
PYB="${PY_BENCH:-$ROOT/../shared/bench/kto_step_bench.py}"
PY=/usr/bin/python3
THREADS="${THREADS:-$(nproc)}"
OUT="${OUT:-$ROOT/runs/bench_train}"
mkdir -p "$OUT"
[ -x "$P" ] || { echo "build prospect first ($P)" >&2; exit 1; }

if [ "${1:-}" != "--e2e" ]; then
  # ------------------------------------------------------------------------------ step benchmark
  [ -f "$PYB" ] || { echo "the Python baseline is missing: $PYB" >&2; exit 1; }
  "$PY" -c "import torch" 2>/dev/null || { echo "python3-torch is missing (scripts/setup.sh installs it)" >&2; exit 1; }
  echo "# machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), threads $THREADS"
  for shape in ${SHAPES:-tiny qwen3-0.6b}; do
    if [ "$shape" = tiny ]; then
      steps="${STEPS:-5}"; extra=(--head-dim 32)  # the Python tiny preset's head_dim
    else
      steps="${QWEN_STEPS:-2}"; extra=(); [ -n "${QWEN_LAYERS:-}" ] && extra=(--layers "$QWEN_LAYERS")
    fi
    if [ -z "${QWEN_LAYERS:-}" ] || [ "$shape" = tiny ]; then
      echo "## $shape: Python step ($steps timed + 1 warm-up)"
      /usr/bin/time -f "%e s wall, %M KiB maxrss" "$PY" "$PYB" --preset "$shape" --batch 2 --seq 512 --steps "$steps" \
        --loss enhanced_kto --grad-ckpt --threads "$THREADS" > "$OUT/$shape.python.json" 2> "$OUT/$shape.python.log"
      tail -1 "$OUT/$shape.python.log"
    else
      echo "## $shape: QWEN_LAYERS set, no Python run (the baseline has no layer override)"; rm -f "$OUT/$shape.python.json"
    fi
    for v in ${VARIANTS:-online shared precomputed}; do
      case "$v" in
        online) flags=(--no-share-prompt-prefix) ;;
        shared) flags=(--share-prompt-prefix) ;;
        precomputed) flags=(--share-prompt-prefix --precomputed-ref) ;;
        *) echo "unknown variant $v" >&2; exit 2 ;;
      esac
      echo "## $shape: Prospect $v"
      "$P" --threads "$THREADS" bench-train --preset "$shape" --batch 2 --seq 512 --prompt 256 --rank 16 \
        --steps "$steps" --warmup 1 --gradient-checkpointing --loss enhanced_kto "${extra[@]}" "${flags[@]}" \
        > "$OUT/$shape.$v.json" 2> "$OUT/$shape.$v.log"
    done
  done
  "$PY" - "$OUT" ${SHAPES:-tiny qwen3-0.6b} <<'PY'
import json, os, sys
out, shapes = sys.argv[1], sys.argv[2:]
def load(p):
    return json.load(open(p)) if os.path.exists(p) else None
print(f"\n{'shape / run':34} {'step s':>8} {'tok/s':>8} {'x Py':>6} {'RSS MiB':>8} {'x Py':>6} "
      f"{'GEMM frac':>9} {'user s':>7} {'sys s':>7} {'sys/user':>8} {'faults':>9}")
for s in shapes:
    py = load(f"{out}/{s}.python.json")
    rows = []
    if py:
        c = py["cpu_s_per_step"]
        rows.append(("Python TRL-style", py["step_s_median"], py["tokens_per_s"], py["peak_rss_mib"],
                     py["mfu_vs_gemm"], c["user"], c["sys"], c["minor_faults"]))
    for v in ("online", "shared", "precomputed"):
        r = load(f"{out}/{s}.{v}.json")
        if not r: continue
        c = r["cpu_s_per_step"]
        rows.append((f"Prospect {v}", r["step_seconds"], r["tokens_per_second"], r["peak_rss_mb"],
                     r["fraction_of_gemm_peak"], c["user"], c["sys"], c["minor_faults"]))
    for name, st, tps, rss, frac, us, sy, mf in rows:
        rt = f"{tps / py['tokens_per_s']:6.2f}" if py else "     -"
        rr = f"{rss / py['peak_rss_mib']:6.2f}" if py else "     -"
        print(f"{s + ' / ' + name:34} {st:8.2f} {tps:8.1f} {rt} {rss:8.0f} {rr} {frac:9.3f} {us:7.2f} {sy:7.2f} "
              f"{sy / max(us, 1e-9):8.3f} {mf:9.0f}")
    if py: print(f"{'':34} GEMM peak: Python {py['gemm_gflops_2048']:.1f} GFLOP/s, Prospect "
                 + ", ".join(f"{load(f'{out}/{s}.{v}.json')['gemm_gflops_2048']:.1f}"
                             for v in ("online", "shared", "precomputed") if load(f"{out}/{s}.{v}.json")))
PY
  exit 0
fi

# ---------------------------------------------------------------------------------------- end to end
E2E="$OUT/e2e"
mkdir -p "$E2E"
TOK="$ROOT/.cache/tokenizers/qwen3"
[ -f "$TOK/tokenizer.json" ] || "$ROOT/scripts/fetch_assets.sh"
LAYERS="${E2E_LAYERS:-28}"
if [ ! -f "$E2E/model-$LAYERS/config.json" ]; then
  "$P" init --preset qwen3-0.6b --layers "$LAYERS" --dtype f32 --seed 0 --out "$E2E/model-$LAYERS" --force >/dev/null
  cp "$TOK/tokenizer.json" "$TOK/tokenizer_config.json" "$E2E/model-$LAYERS/"
fi
# UltraFeedback-like rows: a prompt of ~150 tokens, chosen and rejected answers of ~250 tokens each.
PREP="${E2E_PREP_PAIRS:-4000}"
python3 - "$E2E" "${E2E_PAIRS:-16}" "$PREP" <<'PY'
import json, random, sys
out, n = sys.argv[1], int(sys.argv[2])
rng = random.Random(0)
words = ("the of and to in is that for it as was with be by on not he this are or his from at which but have an "
         "they you were her all she there would their we him been has when who will no more if out so up said what "
         "its about than into them can only other time new some could these two may first then do any like my now "
         "over such our man me even most made after also did many before must through back years where much your "
         "way well down should because each just those people how too little state good very make world still own "
         "see men work long get here between both life being under never day same another know while last might us "
         "great old year off come since against go came right used take three").split()
def text(n_words):
    return " ".join(rng.choice(words) for _ in range(n_words)).capitalize() + "."
def row(i):
    p = text(rng.randint(120, 170))
    msg = lambda a: [{"role": "user", "content": p}, {"role": "assistant", "content": a}]
    return {"prompt": p, "prompt_id": f"{i:08x}", "chosen": msg(text(rng.randint(200, 280))),
            "rejected": msg(text(rng.randint(200, 280))), "score_chosen": 8.0, "score_rejected": 3.0}
for name, count in (("train", n), ("eval", max(4, n // 8)), ("prep", int(sys.argv[3]))):
    with open(f"{out}/{name}.jsonl", "w") as f:
        for i in range(count): f.write(json.dumps(row(i)) + "\n")
PY
STEPS_E="${E2E_STEPS:-2}"
GA="${E2E_GA:-8}"
echo "# machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), threads $THREADS"
echo "# e2e: qwen3-0.6b shapes ($LAYERS layers, f32), batch 2 x $GA accumulation, $STEPS_E optimizer steps"
# Data preparation alone (read, chat template, tokenise, KL rows, checks): `train --dry-run` does exactly
# the run's preparation and loads no weights; timed over E2E_PREP_PAIRS rows (the card's split has 61,135).
/usr/bin/time -f "%e %U %S %M" -o "$E2E/prep.time" "$P" --threads "$THREADS" train \
  "$ROOT/configs/qwen3-0.6b-enhanced-kto.json" --dry-run --set model.path="$E2E/model-$LAYERS" \
  --set data.train="$E2E/prep.jsonl" --set data.eval="$E2E/eval.jsonl" > "$E2E/prep.json" 2> "$E2E/prep.log"
read -r pw pu ps pm < "$E2E/prep.time"
awk -v n="$PREP" -v w="$pw" -v u="$pu" -v m="$pm" 'BEGIN { r = n / (w > 0.001 ? w : 0.001);
  printf "## data preparation: %d rows in %s s wall (%s s user), peak RSS %d MiB; %.0f rows/s, the card split (61,135 rows) in about %.0f s\n",
    n, w, u, m / 1024, r, 61135 / r }'
for v in ${E2E_VARIANTS:-plain shared precomputed_shared}; do
  case "$v" in
    plain) sets=(--set train.share_prompt_prefix=false --set train.precompute_ref_logps=false) ;;
    shared) sets=(--set train.share_prompt_prefix=true --set train.precompute_ref_logps=false) ;;
    precomputed_shared) sets=(--set train.share_prompt_prefix=true --set train.precompute_ref_logps=true) ;;
    *) echo "unknown variant $v" >&2; exit 2 ;;
  esac
  run="$E2E/run-$v"
  rm -rf "$run"
  echo "## prospect train ($v)"
  /usr/bin/time -f "%e %U %S %M %R" -o "$E2E/$v.time" \
    "$P" --threads "$THREADS" train "$ROOT/configs/qwen3-0.6b-enhanced-kto.json" --no-progress \
    --set model.path="$E2E/model-$LAYERS" --set model.dtype=f32 --set model.device=cpu \
    --set data.train="$E2E/train.jsonl" --set data.eval="$E2E/eval.jsonl" --set data.max_eval_examples=8 \
    --set train.gradient_accumulation_steps="$GA" --set train.max_steps="$STEPS_E" --set train.logging_steps=1 \
    --set train.eval_steps="$STEPS_E" --set train.save_steps="$STEPS_E" --set train.merge_at_end=false \
    --set output_dir="$run" "${sets[@]}" > "$E2E/$v.json" 2> "$E2E/$v.log"
done
python3 - "$E2E" "$STEPS_E" ${E2E_VARIANTS:-plain shared precomputed_shared} <<'PY'
import json, os, re, statistics, sys
e2e, steps, variants = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
stamp = re.compile(r"^\[(\d\d):(\d\d):(\d\d)\]")  # the CLI's log pattern: [HH:MM:SS], 1 s resolution
def t(line):
    m = stamp.match(line)
    return int(m.group(1)) * 3600 + int(m.group(2)) * 60 + int(m.group(3)) if m else None
print(f"\n{'variant':20} {'ref s':>7} {'s/opt step':>10} {'last step':>9} {'eval+ckpt s':>11} "
      f"{'ckpt s':>7} {'peak RSS MiB':>12} {'user s':>8} {'sys s':>8} {'faults':>9}")
for v in variants:
    log = open(f"{e2e}/{v}.log").read().splitlines()
    def at(pat):
        for l in log:
            if pat in l and t(l): return t(l)
    step_t = [t(l) for l in log if re.search(r"\] step \d+/", l) and t(l)]
    refs = [t(l) for l in log if "micro-batches computed" in l and t(l)]
    ref_s = refs[-1] - at("optimizer steps") if refs and at("optimizer steps") else 0.0
    first = refs[-1] if refs else at("optimizer steps")
    ivals = [b - a for a, b in zip([first] + step_t[:-1], step_t)]
    # The last interval also holds the evaluation and the checkpoint (both run at the last step).
    body = ivals[:-1] if len(ivals) > 1 else ivals
    per = statistics.median(body[1:] if len(body) > 1 else body)
    ck = f"{e2e}/run-{v}/checkpoint-{steps}"
    mt = [os.path.getmtime(os.path.join(ck, f)) for f in os.listdir(ck)] if os.path.isdir(ck) else []
    ckpt_s = max(mt) - min(mt) if mt else float("nan")
    wall, user, sys_, rss_kib, faults = open(f"{e2e}/{v}.time").read().split()[-5:]
    print(f"{v:20} {ref_s:7.1f} {per:10.1f} {ivals[-1]:9.1f} {ivals[-1] - per:11.1f} {ckpt_s:7.2f} "
          f"{int(rss_kib) / 1024:12.0f} {float(user):8.1f} {float(sys_):8.1f} {int(faults):9d}")
PY
