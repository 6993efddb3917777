#!/usr/bin/env bash
# The README's first command. On a fresh Debian 12 machine: installs and builds (scripts/setup.sh),
# creates a tiny Qwen3 model with the real Qwen3 tokenizer, measures held-out preference accuracy,
# trains Enhanced KTO on the bundled demo preference data (data/demo, a few minutes on 2 cores),
# measures again, merges the adapter into a standalone model, exports it and draws the plots.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BUILD_DIR="${PROSPECT_BUILD_DIR:-$ROOT/build}"
P="$BUILD_DIR/prospect"
RUN=runs/demo/enhanced-kto

"$ROOT/scripts/setup.sh"

echo "== 1. a tiny random Qwen3 (2 layers, hidden 64) with the real Qwen3 tokenizer"
rm -rf runs/demo
"$P" init --preset tiny --dtype f32 --seed 0 --out runs/demo/base >/dev/null
cp .cache/tokenizers/qwen3/tokenizer.json .cache/tokenizers/qwen3/tokenizer_config.json runs/demo/base/

echo "== 2. data: $(wc -l < data/demo/train.jsonl) training pairs, $(wc -l < data/demo/eval.jsonl) held-out pairs"
"$P" train configs/demo.json --dry-run > runs/demo/dry_run.json
python3 - <<'PY' 2>/dev/null || true
import json; d = json.load(open("runs/demo/dry_run.json")); t = d["train_data"]; p = d["plan"]
print(f"   {t['examples']} examples ({t['desirable']} desirable / {t['undesirable']} undesirable), "
      f"{p['total_steps']} optimizer steps")
PY

echo "== 3. held-out accuracy before training: the trainer evaluates at step 0 (eval_on_start)"

echo "== 4. training Enhanced KTO (configs/demo.json)"
"$P" train configs/demo.json

echo "== 5. held-out preference accuracy before and after (from $RUN/metrics.jsonl)"
python3 - "$RUN/metrics.jsonl" <<'PY'
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1]) if '"eval_loss"' in l]
first, last = ev[0], ev[-1]
print(f"   preference accuracy  β·r(chosen) > β·r(rejected):   {first['eval_preference_accuracy']:.3f} -> {last['eval_preference_accuracy']:.3f}"
      "   (before training the policy is the reference: every pair ties, none is won)")
print(f"   reward margin        mean β·(r_chosen − r_rejected): {first.get('eval_rewards/margins', 0):.3f} -> {last.get('eval_rewards/margins', 0):.3f}")
print(f"   eval loss:                                           {first['eval_loss']:.4f} -> {last['eval_loss']:.4f}")
print(f"   (likelihood accuracy log p(chosen) > log p(rejected): {first['eval_logps_accuracy']:.3f} -> {last['eval_logps_accuracy']:.3f};"
      " summed log-probs favour the shorter rejected answers)")
if last['eval_preference_accuracy'] < 0.8 or last.get('eval_rewards/margins', 0) <= 0:
    sys.exit("the demo did not move held-out preference accuracy clearly")
PY
if "$P" eval --help 2>/dev/null | grep -q -- "--task"; then
  echo "   prospect eval --task preference (policy = base + adapter vs the base):"
  "$P" eval --task preference --model runs/demo/base --adapter "$RUN/adapter" --data data/demo/eval.jsonl \
    --output runs/demo/eval_preference.json || echo "   (prospect eval failed; the trainer's numbers above stand)"
fi

echo "== 6. merged standalone model: $RUN/merged (model card README.md), plots: $RUN/plots/"
if "$P" export --help >/dev/null 2>&1; then
  "$P" export --format hf --model runs/demo/base --adapter "$RUN/adapter" --out runs/demo/export --force >/dev/null 2>&1 \
    && echo "   exported: runs/demo/export" || echo "   (export skipped: see prospect export --help)"
fi
"$P" plot "$RUN" >/dev/null
ls "$RUN/plots"
