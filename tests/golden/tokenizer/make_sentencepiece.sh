#!/usr/bin/env bash
# Trains a tiny SentencePiece BPE model (Debian package `sentencepiece` 0.1.97: spm_train/spm_encode) on a
# small multilingual corpus and writes goldens from spm_encode --output_format=id (no BOS/EOS).
# Outputs: sentencepiece/tokenizer.model, sentencepiece/tokenizer_config.json, sentencepiece/goldens.jsonl
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT="$HERE/sentencepiece"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
mkdir -p "$OUT"
# Corpus: the strings of the Qwen3 goldens (one per line, newlines inside folded) repeated.
/usr/bin/python3 - "$HERE/qwen3_goldens.json" > "$TMP/corpus.txt" <<'PY'
import json, sys
cases = json.load(open(sys.argv[1]))["cases"]
lines = [c["text"].replace("\r", " ").replace("\n", " ") for c in cases]
lines = [l for l in lines if l.strip()]
for _ in range(3):
    print("\n".join(lines))
PY
spm_train --input="$TMP/corpus.txt" --model_prefix="$TMP/m" --vocab_size=800 --model_type=bpe \
  --character_coverage=0.9995 --byte_fallback=true --bos_id=1 --eos_id=2 --unk_id=0 --pad_id=-1 \
  --minloglevel=2 >/dev/null 2>&1
cp "$TMP/m.model" "$OUT/tokenizer.model"
cat > "$OUT/tokenizer_config.json" <<'JSON'
{"add_bos_token": true, "add_eos_token": false, "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>",
 "model_max_length": 4096}
JSON
# Goldens: one JSON line {text, ids} per case, ids from the spm_encode CLI.
/usr/bin/python3 - "$HERE/qwen3_goldens.json" "$TMP" > "$OUT/goldens.jsonl" <<'PY'
import json, subprocess, sys
cases = json.load(open(sys.argv[1]))["cases"]
texts = [c["text"] for c in cases if "\n" not in c["text"] and "\r" not in c["text"] and "\u2028" not in c["text"]
         and "\u2029" not in c["text"] and "\x00" not in c["text"]][::2]
inp = "\n".join(texts) + "\n"
out = subprocess.run(["spm_encode", "--model=" + sys.argv[2] + "/m.model", "--output_format=id"],
                     input=inp.encode(), capture_output=True, check=True).stdout.decode().split("\n")
for t, ids in zip(texts, out):
    print(json.dumps({"text": t, "ids": [int(x) for x in ids.split()]}, ensure_ascii=False))
PY
wc -l "$OUT/goldens.jsonl"; ls -la "$OUT"
