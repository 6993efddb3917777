// Golden renders of Hugging Face chat templates for the C++ Jinja engine (src/chat).
//
// Generator: npm @huggingface/jinja 0.5.11 (the JS Jinja used by transformers.js), run with node 20:
//   mkdir -p /tmp/goldgen && cd /tmp/goldgen && npm init -y && npm install @huggingface/jinja@0.5.11
//   GOLDGEN=/tmp/goldgen node tests/golden/chat/make_goldens.mjs
// then cross-check every case with Python jinja2 under transformers' settings:
//   python3 tests/golden/chat/jinja2_reference.py check   (must print "all N cases agree")
// Output: tests/golden/chat/chat_goldens.json = {generator, templates: {id: source}, cases: [{name,
// template, context, expected | error}]}. Each context is exactly what the C++ test passes to
// ChatTemplate::render_ordered (transformers' render() kwargs: messages, tools, add_generation_prompt,
// bos_token, ...). A case with "error" expects raise_exception with that message.
//
// Where @huggingface/jinja and Python jinja2 (what transformers runs) disagree, Python wins; cases here
// are chosen to stay clear of the known differences, and the C++ engine follows Python on them, tested
// through chat_feature_goldens.json (rendered by Python jinja2: `jinja2_reference.py features`) and
// tests/chat/test_jinja_engine.cpp:
//  * JS numbers have no int/float distinction: tojson/printing of 1.0 gives "1" in JS, "1.0" in Python;
//    small/large floats print as 1e-7 in JS and 1e-07 in Python. Goldens use only non-integral floats
//    with plain decimal repr (0.5, 3.14).
//  * Printing a list/dict/None directly ({{ [1, 'a'] }}) gives JS-style text in JS, Python repr in jinja2
//    (e.g. Mistral v0.3 `content|string` of a dict). Goldens keep tool-result content a string.
//  * strftime_now: both use the current time; the goldens fix it through the context key "__now__"
//    (ISO local time), which the C++ engine honours. Here Date is replaced while rendering such a case
//    (the JS global strftime_now cannot be overridden from the context).
//  * @huggingface/jinja lacks the `reject` filter (Llama 3.1 builtin_tools) and tests with arguments
//    (`is divisibleby(3)`), prints booleans as true/false and None as "": such cases live in the
//    Python-generated feature goldens.
//  * Whatever the check script reports as different is fixed here (case dropped) — never by editing
//    the output file by hand.
import { createRequire } from "node:module";
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as T from "./templates.mjs";

// ESM ignores NODE_PATH: load the package from the install folder (GOLDGEN, default /tmp/goldgen).
const requireFrom = createRequire(join(process.env.GOLDGEN || "/tmp/goldgen", "package.json"));
const { Template } = requireFrom("@huggingface/jinja");
const jinjaVersion = JSON.parse(
  readFileSync(join(process.env.GOLDGEN || "/tmp/goldgen", "node_modules", "@huggingface", "jinja", "package.json"), "utf8")).version;
if (jinjaVersion !== "0.5.11") throw new Error(`expected @huggingface/jinja 0.5.11, found ${jinjaVersion}`);

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, "..", "..", "..");
const qwen3cfg = JSON.parse(readFileSync(join(repo, ".cache", "tokenizers", "qwen3", "tokenizer_config.json"), "utf8"));

const templates = {
  qwen3: qwen3cfg.chat_template,
  qwen2_5: T.QWEN25,
  llama3: T.LLAMA3,
  llama3_1: T.LLAMA31,
  llama3_2_date: T.LLAMA32_DATE,
  mistral_v0_1: T.MISTRAL_V01,
  mistral_v0_2: T.MISTRAL_V02,
  mistral_v0_3: T.MISTRAL_V03,
  gemma: T.GEMMA,
  chatml: T.CHATML,
  deepseek_r1: T.DEEPSEEK_R1,
};

// ---- building blocks ----
const U = (content) => ({ role: "user", content });
const A = (content) => ({ role: "assistant", content });
const S = (content) => ({ role: "system", content });
const TOOL = (content) => ({ role: "tool", content });
const weatherTool = {
  type: "function",
  function: {
    name: "get_weather",
    description: "Get the current weather in a city — «quoted» and \"escaped\"",
    parameters: {
      type: "object",
      properties: {
        city: { type: "string", description: "City name, e.g. Zürich" },
        unit: { type: "string", enum: ["celsius", "fahrenheit"] },
        days: { type: "integer", minimum: 1, default: 3 },
        threshold: { type: "number", default: 0.5 },
        verbose: { type: "boolean", default: false },
        extra: { type: ["string", "null"], default: null },
      },
      required: ["city"],
    },
  },
};
const searchTool = {
  type: "function",
  function: {
    name: "search",
    description: "Search the web.\nReturns a list of results.",
    parameters: { type: "object", properties: { query: { type: "string" } }, required: ["query"] },
  },
};
const callDict = (name, args) => ({ type: "function", function: { name, arguments: args } });
const unicode = "héllo wörld — 你好，世界 🌍👩‍💻 עברית ελληνικά e\u0301 \"q\" \\ \t tab";

const cases = [];
const add = (name, template, context) => cases.push({ name, template, context });
const gp = { add_generation_prompt: true };
const HF = (extra) => ({ tools: null, documents: null, add_generation_prompt: false, ...extra });

// ---- Qwen3 (qwen3.md §4.3 (a)-(f) plus more) ----
const q3 = (name, ctx) => add("qwen3/" + name, "qwen3", HF({ eos_token: "<|im_end|>", pad_token: "<|endoftext|>", ...ctx }));
q3("a_final_assistant_empty_think", { messages: [U("Hello"), A("Hi there!")] });
q3("b_generation_prompt", { messages: [U("Hello")], ...gp });
q3("c_enable_thinking_false", { messages: [U("Hello")], ...gp, enable_thinking: false });
q3("d_system_user", { messages: [S("You are helpful."), U("Hello")], ...gp });
q3("e_history_think_stripped", { messages: [U("What is 2+2?"), A("<think>\nAdd them.\n</think>\n\n4"), U("And 3+3?")], ...gp });
q3("f_last_assistant_keeps_think", { messages: [U("What is 2+2?"), A("<think>\nAdd them.\n</think>\n\n4")] });
q3("enable_thinking_true", { messages: [U("Hello")], ...gp, enable_thinking: true });
q3("enable_thinking_false_no_gen", { messages: [U("Hello"), A("Hi")], enable_thinking: false });
q3("tools_undefined_key", { messages: [U("Hi")], ...gp, tools: undefined });
q3("multi_turn_think", {
  messages: [S("Be brief."), U("Q1"), A("<think>r1</think>A1"), U("Q2"), A("<think>\n\nr2 long\nreasoning\n\n</think>\n\nA2"), U("Q3")],
  ...gp,
});
q3("reasoning_content_field", { messages: [U("Q"), { role: "assistant", content: "Answer.", reasoning_content: "\nThinking hard.\n" }] });
q3("reasoning_content_history_dropped", {
  messages: [U("Q"), { role: "assistant", content: "Answer.", reasoning_content: "Thinking." }, U("Q2")],
  ...gp,
});
q3("reasoning_content_null_falls_back", { messages: [U("Q"), { role: "assistant", content: "<think>inner</think>out", reasoning_content: null }] });
q3("think_without_close", { messages: [U("Q"), A("<think>unterminated")] });
q3("multiple_think_closes", { messages: [U("Q"), A("<think>a</think>b</think>\nc")] });
q3("tools_and_call_dict_args", {
  tools: [weatherTool, searchTool],
  messages: [
    S("You are a weather bot."),
    U("Weather in Zürich?"),
    { role: "assistant", content: "", tool_calls: [callDict("get_weather", { city: "Zürich", unit: "celsius", days: 2, threshold: 0.5 })] },
    TOOL('{"temp": 21, "sky": "clear"}'),
    A("It is 21 °C and clear."),
  ],
});
q3("tools_no_system", { tools: [searchTool], messages: [U("Find cats")], ...gp });
q3("tool_call_string_args", {
  tools: [searchTool],
  messages: [U("Find cats"), { role: "assistant", content: "Let me search.", tool_calls: [callDict("search", '{"query": "cats"}')] }, TOOL("cats are great")],
  ...gp,
});
q3("tool_call_without_function_wrapper", {
  tools: [searchTool],
  messages: [U("Find"), { role: "assistant", content: "", tool_calls: [{ name: "search", arguments: { query: "x" } }] }],
});
q3("consecutive_tool_responses", {
  tools: [weatherTool],
  messages: [
    U("Weather in Paris and Rome?"),
    { role: "assistant", content: "<think>\nTwo cities.\n</think>\n\n", tool_calls: [callDict("get_weather", { city: "Paris" }), callDict("get_weather", { city: "Rome" })] },
    TOOL("Paris: 18"),
    TOOL("Rome: 25"),
    A("<think>\nCompare.\n</think>\n\nParis 18, Rome 25."),
  ],
});
q3("mid_turn_tool_call_with_reasoning", {
  tools: [searchTool],
  messages: [
    U("old question"), A("old answer"),
    U("new question"),
    { role: "assistant", content: "<think>plan</think>calling", tool_calls: [callDict("search", { query: "q" })] },
    TOOL("result"),
  ],
  ...gp,
});
q3("user_tool_response_text_not_last_query", {
  messages: [U("real question"), A("<think>x</think>y"), U("<tool_response>\nfake\n</tool_response>"), A("<think>z</think>w")],
});
q3("second_system_message", { messages: [S("first"), U("u"), S("second"), U("u2")], ...gp });
q3("unicode_content", { messages: [S(unicode), U(unicode), A("<think>" + unicode + "</think>" + unicode)] });
q3("empty_content", { messages: [U(""), A("")] });
q3("extra_kwargs_ignored", { messages: [U("x")], ...gp, custom_flag: true, bos_token: "<s>" });

// ---- Qwen2.5 ----
const q25 = (name, ctx) => add("qwen2_5/" + name, "qwen2_5", HF({ eos_token: "<|im_end|>", ...ctx }));
q25("default_system", { messages: [U("Hello")], ...gp });
q25("custom_system", { messages: [S("Sys"), U("Hello"), A("Hi")] });
q25("tools_default_system", { tools: [weatherTool], messages: [U("Weather?")], ...gp });
q25("tools_and_calls", {
  tools: [weatherTool, searchTool],
  messages: [
    S("Sys"), U("Weather in Oslo and news?"),
    { role: "assistant", content: "Checking.", tool_calls: [callDict("get_weather", { city: "Oslo" }), callDict("search", { query: "news" })] },
    TOOL("Oslo: -3"), TOOL("No news."), A("Done."),
  ],
  ...gp,
});
q25("tool_call_no_content", { messages: [U("x"), { role: "assistant", content: null, tool_calls: [callDict("search", { query: "y" })] }] });
q25("unicode", { messages: [U(unicode), A(unicode)] });

// ---- Llama 3 / 3.1 / 3.2 ----
const l3 = (name, tpl, ctx) => add(name, tpl, HF({ bos_token: "<|begin_of_text|>", eos_token: "<|eot_id|>", ...ctx }));
l3("llama3/basic", "llama3", { messages: [S("  Sys  "), U(" Hi \n"), A("Hello!")], ...gp });
l3("llama3_1/plain", "llama3_1", { messages: [U("Hi")], ...gp });
l3("llama3_1/system_trimmed", "llama3_1", { messages: [S("\n  You are a bot.  \n"), U("Hi"), A("Hello"), U("Bye")], ...gp });
l3("llama3_1/date_string", "llama3_1", { messages: [U("Hi")], date_string: "01 Jan 2025" });
l3("llama3_1/tools_in_user_message", "llama3_1", { tools: [weatherTool], messages: [S("Sys"), U("  Weather in Lyon?  "), A("Let me check")], ...gp });
l3("llama3_1/tools_in_system", "llama3_1", { tools: [weatherTool, searchTool], tools_in_user_message: false, messages: [U("Weather?")], ...gp });
l3("llama3_1/tool_call_and_result", "llama3_1", {
  tools: [weatherTool],
  messages: [
    U("Weather in Lyon?"),
    { role: "assistant", tool_calls: [callDict("get_weather", { city: "Lyon", days: 1 })] },
    TOOL("sunny, 24"),
    { role: "ipython", content: { temp: 24, sky: ["sun", "clouds"] } },
  ],
  ...gp,
});
// (builtin_tools needs the `reject` filter, which @huggingface/jinja 0.5.11 lacks: that case is in
// make_feature_goldens.py, rendered by Python jinja2.)
l3("llama3_1/two_tool_calls_raise", "llama3_1", {
  messages: [U("x"), { role: "assistant", tool_calls: [callDict("a", {}), callDict("b", {})] }],
});
l3("llama3_1/tools_no_user_raise", "llama3_1", { tools: [searchTool], messages: [S("only system")] });
l3("llama3_2_date/strftime_now", "llama3_2_date", { messages: [U("Hi")], ...gp, __now__: "2024-09-05T10:11:12" });
l3("llama3_2_date/date_string_wins", "llama3_2_date", { messages: [U("Hi")], ...gp, __now__: "2024-09-05T10:11:12", date_string: "02 Feb 2022" });

// ---- Mistral ----
const mi = (name, tpl, ctx) => add(name, tpl, HF({ bos_token: "<s>", eos_token: "</s>", ...ctx }));
mi("mistral_v0_1/alternating", "mistral_v0_1", { messages: [U("Hi"), A("Hello"), U("Bye")] });
mi("mistral_v0_1/bad_alternation_raise", "mistral_v0_1", { messages: [U("Hi"), U("Again")] });
mi("mistral_v0_1/system_raise", "mistral_v0_1", { messages: [S("sys"), U("Hi")] });
mi("mistral_v0_2/alternating", "mistral_v0_2", { messages: [U("Hi"), A("Hello"), U("Bye"), A("Ciao")] });
mi("mistral_v0_2/assistant_first_raise", "mistral_v0_2", { messages: [A("Hello")] });
mi("mistral_v0_3/system_last_user", "mistral_v0_3", { messages: [S("Sys prompt"), U("Hi"), A(" Hello  "), U("Bye")] });
mi("mistral_v0_3/tools", "mistral_v0_3", {
  tools: [weatherTool, searchTool],
  messages: [
    U("Old"), A("Reply"),
    U("Weather in Nice?"),
    { role: "assistant", tool_calls: [{ id: "abcDEF123", ...callDict("get_weather", { city: "Nice" }) }] },
    { role: "tool", tool_call_id: "abcDEF123", content: "warm" },
    A("It is warm."),
  ],
});
mi("mistral_v0_3/bad_tool_id_raise", "mistral_v0_3", {
  messages: [U("x"), { role: "assistant", tool_calls: [{ id: "short", ...callDict("f", {}) }] }],
});
mi("mistral_v0_3/bad_alternation_raise", "mistral_v0_3", { messages: [U("a"), A("b"), A("c")] });

// ---- Gemma ----
const ge = (name, ctx) => add("gemma/" + name, "gemma", HF({ bos_token: "<bos>", eos_token: "<eos>", ...ctx }));
ge("basic", { messages: [U("  Hi  "), A("Hello\n"), U("Bye")], ...gp });
ge("no_gen_prompt", { messages: [U("Hi")] });
ge("system_raise", { messages: [S("sys"), U("Hi")] });
ge("alternation_raise", { messages: [U("Hi"), A("a"), A("b")] });
ge("unicode", { messages: [U(unicode)], ...gp });

// ---- ChatML ----
add("chatml/basic", "chatml", HF({ messages: [S("s"), U("u"), A("a")], ...gp }));
add("chatml/unicode_no_gen", "chatml", HF({ messages: [U(unicode), A("ok")] }));

// ---- DeepSeek-R1 style ----
const ds = (name, ctx) => add("deepseek_r1/" + name, "deepseek_r1", HF({ bos_token: "<｜begin▁of▁sentence｜>", eos_token: "<｜end▁of▁sentence｜>", ...ctx }));
ds("basic", { messages: [S("Sys."), U("Hi"), A("<think>\nthinking\n</think>\n\nHello"), U("Again")], ...gp });
ds("tools", {
  messages: [
    U("Weather?"),
    { role: "assistant", content: null, tool_calls: [callDict("get_weather", '{"city": "Bern"}'), callDict("search", '{"query": "Bern"}')] },
    TOOL("cold"), TOOL("capital"),
    A("Cold in the capital."),
  ],
  ...gp,
});
ds("ends_with_tool", { messages: [U("x"), { role: "assistant", content: null, tool_calls: [callDict("f", "{}")] }, TOOL("r")], ...gp });

// Engine features (loops, filters, tests, printing) are generated from Python jinja2 itself by
// make_feature_goldens.py: @huggingface/jinja 0.5.11 deviates from Python there (prints true/false and
// "" for None, rejects `is divisibleby(3)`, chained comparisons, `~ none`, round on floats).

// ---- render ----
const RealDate = Date;
function withNow(iso, fn) {
  // new Date() inside the renderer returns the fixed local time `iso` (no zone = local time).
  globalThis.Date = class extends RealDate {
    constructor(...a) {
      super(...(a.length ? a : [iso]));
    }
  };
  try {
    return fn();
  } finally {
    globalThis.Date = RealDate;
  }
}

const compiled = {};
for (const [id, src] of Object.entries(templates)) {
  try {
    compiled[id] = new Template(src);
  } catch (e) {
    throw new Error(`@huggingface/jinja cannot parse template ${id}: ${e.message}`);
  }
}

const out = [];
for (const c of cases) {
  // Keys whose value is undefined mean "absent" (dropped by JSON.stringify below as well).
  const ctx = JSON.parse(JSON.stringify(c.context));
  const rec = { name: c.name, template: c.template, context: ctx };
  try {
    const render = () => compiled[c.template].render({ ...ctx });
    rec.expected = ctx.__now__ ? withNow(ctx.__now__, render) : render();
  } catch (e) {
    rec.error = String(e.message || e);
  }
  out.push(rec);
}

const doc = { generator: "@huggingface/jinja 0.5.11 via tests/golden/chat/make_goldens.mjs", templates, cases: out };
writeFileSync(join(here, "chat_goldens.json"), JSON.stringify(doc, null, 1) + "\n");
console.log(`wrote ${out.length} cases (${out.filter((c) => c.error).length} raising) to chat_goldens.json`);
