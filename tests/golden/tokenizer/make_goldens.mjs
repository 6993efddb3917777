// Golden token ids for tests/tokenizer, produced by Hugging Face's JS tokenizers.
//   npm install --prefix /tmp/goldgen @huggingface/tokenizers@0.2.0     (exact version used: 0.2.0)
//   NODE_PATH=/tmp/goldgen/node_modules node tests/golden/tokenizer/make_goldens.mjs
// Node v20.20.2. Reads the pinned Qwen3 tokenizer from .cache/tokenizers/qwen3 (scripts/fetch_assets.sh).
// Writes, next to this script:
//   qwen3_goldens.json                      Qwen3 cases (ids, and decode checks)
//   gpt2_like/tokenizer.json + goldens.json  synthetic GPT-2-style tokenizer (ByteLevel pre-tokenizer with
//                                           use_regex and add_prefix_space, "a b" string merges)
//   llama3_like/tokenizer.json + goldens.json synthetic Llama-3-style tokenizer (Split regex + ByteLevel,
//                                           TemplateProcessing with <|begin_of_text|>, [a, b] merges,
//                                           lstrip/rstrip added tokens, NFKC + Replace normalizers, Digits)
// The synthetic vocabularies are trained here by a tiny byte-level BPE trainer on CORPUS below.
// Excluded on purpose: U+FEFF (JS \s counts it as whitespace, Oniguruma does not), U+0085 (the reverse),
// and final-sigma lowercasing (JS toLowerCase is contextual, Rust per character).
import fs from "fs";
import path from "path";
import { createRequire } from "module";
import { fileURLToPath, pathToFileURL } from "url";

const require = createRequire(import.meta.url);
const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../../..");
let Tokenizer;
try {
  ({ Tokenizer } = await import("@huggingface/tokenizers"));
} catch {
  const p = require.resolve("@huggingface/tokenizers", { paths: [process.env.NODE_PATH || "/tmp/goldgen/node_modules"] });
  ({ Tokenizer } = await import(pathToFileURL(p.replace(/tokenizers\.cjs$/, "tokenizers.mjs")).href));
}

// ------------------------------------------------------------------------------------------------
// Test strings: every script family, emoji, whitespace, code, digits, contractions, added tokens.
const words = {
  latin: ["Hello world", "The quick brown fox jumps over the lazy dog.", "naïve café résumé", "Straße Øre Ångström", "Zürich, Köln & München", "Ça va? Très bien!", "żółć gęślą jaźń", "Dvořák Čapek", "İstanbul ılık şişe", "ÀÉÎÕÜ àéîõü"],
  cyrillic: ["Привет, мир!", "Съешь же ещё этих мягких французских булок", "Україна, Київ", "Ђорђе Љубљана"],
  greek: ["Καλημέρα κόσμε", "Ελληνικά: αβγδε ΑΒΓΔΕ", "ἀρχὴ ἥμισυ παντός"],
  arabic: ["مرحبا بالعالم", "اللغة العربية جميلة", "١٢٣ ٤٥٦", "فارسی: سلام دنیا"],
  hebrew: ["שלום עולם", "עברית היא שפה", "בְּרֵאשִׁית"],
  indic: ["नमस्ते दुनिया", "हिन्दी भाषा", "বাংলা ভাষা", "தமிழ் மொழி", "తెలుగు", "ಕನ್ನಡ", "മലയാളം", "ગુજરાતી", "ਪੰਜਾਬੀ", "०१२३४५६७८९"],
  thai: ["สวัสดีชาวโลก", "ภาษาไทยง่ายนิดเดียว", "ພາສາລາວ", "ភាសាខ្មែរ", "မြန်မာ"],
  cjk: ["你好，世界！今天天气很好。", "我爱北京天安门", "漢字と仮名", "中文标点：“引号”、《书名》……", "繁體中文測試", "𠮷野家"],
  hangul: ["안녕하세요 세계", "한국어 텍스트입니다", "ㄱㄴㄷ ㅏㅑㅓ"],
  kana: ["こんにちは世界", "カタカナとひらがな", "ｶﾀｶﾅ半角", "東京タワーは高い。"],
  other: ["Ἀθῆναι", "Հայերեն", "ქართული", "አማርኛ", "ᠮᠣᠩᠭᠣᠯ", "ᏣᎳᎩ", "ᚠᚢᚦᚨᚱᚲ", "ꦗꦮ", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "𝟘𝟙𝟚 ①②③ ⅠⅡⅢ ½¼"],
  emoji: ["😀😃😄", "👍🏽 thumbs", "👨‍👩‍👧‍👦 family", "🏳️‍🌈 flag", "🇯🇵🇫🇷", "❤️‍🔥", "🤗 hugging face", "a😀b", "🧑🏿‍💻 coder", "🫠🫡"],
  whitespace: ["a\r\nb\n\n  c   d\t\te  ", "   leading", "trailing   ", "\n\n\n", "\t\t\tx", "a  b   c    d", " \n \n ", "\r\n\r\n", "x\u00a0y\u2003z\u3000w", "line1\nline2\r\nline3\rline4", "  \t  \n", " ", "", "\u2028\u2029"],
  digits: ["12345 + 6.78", "3.14159265358979", "1,000,000", "2024-01-15T12:30:00Z", "0x1F600", "١٢٣٤", "v1.2.3-rc4", "phone: +1 (555) 123-4567"],
  contractions: ["I'm fine. DON'T panic, it's OK'S", "you'll we've they're she'd", "YOU'LL WE'VE THEY'RE SHE'D", "rock'n'roll", "'s 't 're", "It’s curly", "O'Neil's"],
  code: ["def f(x):\n    return x  # comment\n\n\nprint(f(1))", "int main() {\n\treturn 0;\n}", "for (i = 0; i < n; ++i) a[i] += b[i];", "<div class=\"x\">Hi</div>", "SELECT * FROM t WHERE id = 42;", "console.log(`${a}+${b}`);", "x => x ** 2", "#include <stdio.h>", "fn main() { println!(\"hi\"); }", "{\"key\": [1, 2, {\"n\": null}]}", "$ ls -la | grep foo > out.txt", "if a!=b and c<=d:\n\tpass"],
  added: ["x<think>y</think>z<|endoftext|>", "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n", "<think>\n\n</think>\n\n", "<tool_call>{\"name\": \"f\"}</tool_call>", "<|endoftext|><|endoftext|>", "a <|im_end|> b", "<|im_start|", "<think", "<<think>>", "<|fim_prefix|>def<|fim_suffix|>x<|fim_middle|>", "text<|vision_start|><|image_pad|><|vision_end|>more"],
  nfc: ["cafe\u0301", "café", "e\u0301\u0302", "a\u0308\u0301", "\u1100\u1161\u11a8", "ñ vs n\u0303", "\u0041\u030a", "\u212b", "\u2126", "q\u0307\u0323", "\u1e0b\u0323", "Å\u0323", "\u0958", "\u00e9\u0301", "\u0915\u093c"],
  mixed: ["Hello 世界 мир 🌍!", "English中文Русский", "価格は$100です", "emoji🎉and text", "MIXED case Words", "ALLCAPS and lowercase", "snake_case_name camelCaseName", "e-mail: test@example.com", "https://huggingface.co/Qwen/Qwen3-0.6B", "C:\\Users\\name\\file.txt", "...!!!???", "—– ‒ “quotes” ‘single’", "«guillemets» ‹x›", "©®™ §¶ °±", "a\u200bb", "a\u200db", "\u0000\u0001\u007f", "tab\there", "long_word_" + "a".repeat(60)],
};
const qwenCases = [];
for (const [family, list] of Object.entries(words)) for (const s of list) qwenCases.push({ family, text: s });
// Combinations to reach a few hundred cases: pairs of strings from different families, with
// different separators, and space-prefixed variants.
const flat = Object.values(words).flat();
const seps = [" ", "\n", "", "  ", "\t", ". ", "\r\n"];
for (let i = 0; i < 150; i++) {
  const a = flat[(i * 7) % flat.length], b = flat[(i * 13 + 5) % flat.length];
  qwenCases.push({ family: "combo", text: a + seps[i % seps.length] + b });
}
for (let i = 0; i < flat.length; i += 3) qwenCases.push({ family: "space-prefixed", text: " " + flat[i] });
const specExamples = [
  ["Hello, my dog is cute", [9707, 11, 847, 5562, 374, 18838]],
  ["Hello world", [9707, 1879]],
  [" Hello world", [21927, 1879]],
  ["I'm fine. DON'T panic, it's OK'S", [40, 2776, 6915, 13, 44273, 17323, 21975, 11, 432, 594, 10402, 13272]],
  ["def f(x):\n    return x  # comment\n\n\nprint(f(1))", [750, 282, 2075, 982, 262, 470, 856, 220, 671, 3980, 1406, 1350, 955, 7, 16, 593]],
  ["a\r\nb\n\n  c   d\t\te  ", [64, 319, 65, 271, 220, 272, 256, 294, 197, 7727, 256]],
  ["12345 + 6.78", [16, 17, 18, 19, 20, 488, 220, 21, 13, 22, 23]],
  ["你好，世界！今天天气很好。", [108386, 3837, 99489, 6313, 100644, 104307, 101243, 1773]],
  ["x<think>y</think>z<|endoftext|>", [87, 151667, 88, 151668, 89, 151643]],
];

function load(dir) {
  const tj = JSON.parse(fs.readFileSync(path.join(dir, "tokenizer.json"), "utf8"));
  const cfgPath = path.join(dir, "tokenizer_config.json");
  const tc = fs.existsSync(cfgPath) ? JSON.parse(fs.readFileSync(cfgPath, "utf8")) : {};
  return new Tokenizer(tj, tc);
}

function goldens(tok, cases, { withSpecial = false } = {}) {
  const out = [];
  for (const c of cases) {
    const ids = tok.encode(c.text, { add_special_tokens: false }).ids;
    // nfc: JS String.normalize, the independent reference for decode(encode(s)) == NFC(s).
    const rec = { family: c.family, text: c.text, ids, decoded: tok.decode(ids.length ? ids : [0]).slice(0, ids.length ? undefined : 0), nfc: c.text.normalize("NFC") };
    if (withSpecial) rec.ids_with_special = tok.encode(c.text, { add_special_tokens: true }).ids;
    out.push(rec);
  }
  return out;
}

// ------------------------------------------------------------------------------------------------
// Qwen3
const qwenDir = path.join(root, ".cache/tokenizers/qwen3");
const qwen = load(qwenDir);
for (const [text, ids] of specExamples) {
  const got = qwen.encode(text, { add_special_tokens: false }).ids;
  if (JSON.stringify(got) !== JSON.stringify(ids)) throw new Error(`JS disagrees with qwen3.md §5 on ${JSON.stringify(text)}: ${got}`);
}
const qwenOut = goldens(qwen, qwenCases);
const decodeCases = [
  { ids: [11162, 97] }, { ids: [11162, 97, 245] }, { ids: [151644, 9707, 151667, 1879, 151645] },
  { ids: [151643, 87, 151668, 151652, 151655, 151653] },
];
for (const d of decodeCases) {
  d.text = qwen.decode(d.ids, { skip_special_tokens: false });
  d.text_skip_special = qwen.decode(d.ids, { skip_special_tokens: true });
}
fs.writeFileSync(path.join(here, "qwen3_goldens.json"),
  JSON.stringify({ generator: "@huggingface/tokenizers 0.2.0", cases: qwenOut, decode: decodeCases }, null, 0) + "\n");

// ------------------------------------------------------------------------------------------------
// Synthetic byte-level BPE vocabularies trained on a small multilingual corpus.
function byteToUnicode() {
  const bs = [];
  for (let b = 0x21; b <= 0x7e; b++) bs.push(b);
  for (let b = 0xa1; b <= 0xac; b++) bs.push(b);
  for (let b = 0xae; b <= 0xff; b++) bs.push(b);
  const cs = bs.slice();
  let n = 0;
  for (let b = 0; b < 256; b++) if (!bs.includes(b)) { bs.push(b); cs.push(256 + n++); }
  const m = new Map();
  bs.forEach((b, i) => m.set(b, String.fromCodePoint(cs[i])));
  return { order: bs, map: m };
}
const B2U = byteToUnicode();
const enc = new TextEncoder();
function trainBpe(corpus, splitRe, numMerges) {
  const vocab = {};
  B2U.order.forEach((b, i) => (vocab[B2U.map.get(b)] = i));
  const words = new Map();
  for (const w of corpus.match(splitRe) || []) {
    const sym = [...enc.encode(w)].map((b) => B2U.map.get(b)).join("\u0000");
    words.set(sym, (words.get(sym) || 0) + 1);
  }
  let wl = [...words.entries()].map(([k, c]) => [k.split("\u0000"), c]);
  const merges = [];
  for (let m = 0; m < numMerges; m++) {
    const counts = new Map();
    for (const [syms, c] of wl) for (let i = 0; i + 1 < syms.length; i++) {
      const k = syms[i] + "\u0000" + syms[i + 1];
      counts.set(k, (counts.get(k) || 0) + c);
    }
    let best = null, bc = 1;
    for (const [k, c] of counts) if (c > bc || (c === bc && best !== null && k < best)) { best = k; bc = c; }
    if (best === null) break;
    const [a, b] = best.split("\u0000");
    merges.push([a, b]);
    if (!(a + b in vocab)) vocab[a + b] = Object.keys(vocab).length;
    wl = wl.map(([syms, c]) => {
      const out = [];
      for (let i = 0; i < syms.length; i++) {
        if (i + 1 < syms.length && syms[i] === a && syms[i + 1] === b) { out.push(a + b); i++; } else out.push(syms[i]);
      }
      return [out, c];
    });
  }
  return { vocab, merges };
}
const CORPUS = flat.join("\n") + "\n" + [
  "the the the and and of of to to in in is is it it that that for for with with as as on on",
  "Hello world hello World HELLO WORLD tokenization tokenizer tokens token",
  "1234567890 2024 2025 100 1000 3.14 42",
  "    indent\n\tindent\n\n\n  spaces   spaces",
  "def return print import from class self None True False",
  "привет мир мир привет 你好 世界 世界 こんにちは 안녕하세요",
].join("\n").repeat(3);
const GPT2_RE = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;
const LLAMA3_PATTERN = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const LLAMA3_RE = /'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD]|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+/gu;

function added(id, content, special, extra = {}) {
  return { id, content, single_word: false, lstrip: false, rstrip: false, normalized: !special, special, ...extra };
}

// GPT-2 style.
{
  const { vocab, merges } = trainBpe(CORPUS, GPT2_RE, 400);
  const eot = Object.keys(vocab).length;
  vocab["<|endoftext|>"] = eot;
  const tj = {
    version: "1.0", truncation: null, padding: null,
    added_tokens: [added(eot, "<|endoftext|>", true, { normalized: false })],
    normalizer: null,
    pre_tokenizer: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
    post_processor: { type: "ByteLevel", add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: "BPE", dropout: null, unk_token: null, continuing_subword_prefix: "", end_of_word_suffix: "",
      fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges: merges.map(([a, b]) => a + " " + b) },
  };
  const dir = path.join(here, "gpt2_like");
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, "tokenizer.json"), JSON.stringify(tj) + "\n");
  fs.writeFileSync(path.join(dir, "tokenizer_config.json"), JSON.stringify({
    bos_token: "<|endoftext|>", eos_token: "<|endoftext|>", unk_token: "<|endoftext|>", model_max_length: 1024,
    add_bos_token: false, clean_up_tokenization_spaces: true, tokenizer_class: "GPT2Tokenizer" }, null, 2) + "\n");
  const tok = load(dir);
  const cases = qwenCases.filter((c, i) => c.family !== "added" && i % 2 === 0);
  cases.push({ family: "added", text: "one<|endoftext|>two" }, { family: "added", text: "<|endoftext|> x" });
  fs.writeFileSync(path.join(dir, "goldens.json"), JSON.stringify({ generator: "@huggingface/tokenizers 0.2.0", cases: goldens(tok, cases, { withSpecial: true }) }) + "\n");
}

// Llama-3 style (with extra normalizers and added-token flags to cover them).
{
  const { vocab, merges } = trainBpe(CORPUS, LLAMA3_RE, 400);
  let next = Object.keys(vocab).length;
  const specials = [
    added(next++, "<|begin_of_text|>", true, { normalized: false }),
    added(next++, "<|end_of_text|>", true, { normalized: false }),
    added(next++, "<|eot_id|>", true, { normalized: false }),
    added(next++, "[LS]", false, { lstrip: true, normalized: false }),
    added(next++, "[RS]", false, { rstrip: true, normalized: false }),
    added(next++, "<b>", false, { normalized: false }),
    added(next++, "<bold>", false, { normalized: false }),
  ];
  const tj = {
    version: "1.0", truncation: null, padding: null, added_tokens: specials,
    normalizer: { type: "Sequence", normalizers: [{ type: "NFKC" }, { type: "Replace", pattern: { String: "``" }, content: "\"" }] },
    pre_tokenizer: { type: "Sequence", pretokenizers: [
      { type: "Split", pattern: { Regex: LLAMA3_PATTERN }, behavior: "Isolated", invert: false },
      { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: false }] },
    post_processor: { type: "Sequence", processors: [
      { type: "ByteLevel", add_prefix_space: true, trim_offsets: false, use_regex: true },
      { type: "TemplateProcessing",
        single: [{ SpecialToken: { id: "<|begin_of_text|>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }],
        pair: [{ SpecialToken: { id: "<|begin_of_text|>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } },
          { SpecialToken: { id: "<|begin_of_text|>", type_id: 1 } }, { Sequence: { id: "B", type_id: 1 } }],
        special_tokens: { "<|begin_of_text|>": { id: "<|begin_of_text|>", ids: [specials[0].id], tokens: ["<|begin_of_text|>"] } } }] },
    decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: "BPE", dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null,
      fuse_unk: false, byte_fallback: false, ignore_merges: true, vocab, merges },
  };
  const dir = path.join(here, "llama3_like");
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, "tokenizer.json"), JSON.stringify(tj) + "\n");
  fs.writeFileSync(path.join(dir, "tokenizer_config.json"), JSON.stringify({
    bos_token: "<|begin_of_text|>", eos_token: { content: "<|eot_id|>", special: true }, model_max_length: 131072,
    chat_template: [{ name: "default", template: "{{ bos_token }}{% for m in messages %}{{ m.content }}{% endfor %}" },
      { name: "tool_use", template: "x" }], clean_up_tokenization_spaces: false, tokenizer_class: "PreTrainedTokenizerFast" }, null, 2) + "\n");
  const tok = load(dir);
  const cases = qwenCases.filter((c, i) => c.family !== "added" && i % 2 === 1);
  for (const t of ["a [LS] b", "a   [LS]b", "[LS]", "x [RS]   y", "[RS]\n\nz", "<bold>x</bold> <b>", "<|begin_of_text|>hi<|eot_id|>",
    "``quoted''", "ﬁ ligature ① ２", "1234567 89", "A  [LS]  [RS]  B"]) cases.push({ family: "added", text: t });
  fs.writeFileSync(path.join(dir, "goldens.json"), JSON.stringify({ generator: "@huggingface/tokenizers 0.2.0", cases: goldens(tok, cases, { withSpecial: true }) }) + "\n");
}
console.log(`qwen3: ${qwenOut.length} cases`);
