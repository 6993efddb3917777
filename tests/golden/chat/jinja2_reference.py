#!/usr/bin/env python3
"""Python jinja2 with transformers' chat-template settings: the reference the goldens must agree with.

  python3 tests/golden/chat/jinja2_reference.py check      # re-render chat_goldens.json (from
                                                                  # @huggingface/jinja) and compare
  python3 tests/golden/chat/jinja2_reference.py features   # write chat_feature_goldens.json

Environment as transformers' _compile_jinja_template (utils/chat_template_utils.py):
ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[AssistantTracker,
loopcontrols]); filters["tojson"] = json.dumps(x, ensure_ascii=False, indent=indent, separators=...,
sort_keys=...); globals raise_exception (TemplateError(msg)) and strftime_now (datetime.now().strftime;
here the context key "__now__" fixes "now", as the C++ engine does). Needs a python3 with jinja2
(pip install jinja2==3.1.6; the goldens were made with 3.1.6).
"""
import json
import sys
from datetime import datetime
from pathlib import Path

import jinja2
from jinja2 import nodes
from jinja2.exceptions import TemplateError
from jinja2.ext import Extension
from jinja2.sandbox import ImmutableSandboxedEnvironment

HERE = Path(__file__).resolve().parent


class AssistantTracker(Extension):
    # transformers' {% generation %} tag; rendering its body is all that matters for the text.
    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return nodes.CallBlock(self.call_method("_render", []), [], [], body).set_lineno(lineno)

    def _render(self, caller):
        return caller()


def compile_template(source, now=None):
    def raise_exception(message):
        raise TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(format):
        t = datetime.fromisoformat(now) if now else datetime.now()
        return t.strftime(format)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[AssistantTracker, jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env.from_string(source)


def render(source, context):
    tpl = compile_template(source, context.get("__now__"))
    try:
        return {"expected": tpl.render(**context)}
    except TemplateError as e:
        if type(e) is TemplateError:  # raise_exception
            return {"error": str(e)}
        raise


def check():
    doc = json.loads((HERE / "chat_goldens.json").read_text(encoding="utf-8"))
    bad = 0
    for case in doc["cases"]:
        got = render(doc["templates"][case["template"]], case["context"])
        want = {k: case[k] for k in ("expected", "error") if k in case}
        if got != want:
            bad += 1
            print(f"DIFF {case['name']}\n  js:     {want!r}\n  jinja2: {got!r}")
    n = len(doc["cases"])
    print(f"all {n} cases agree" if bad == 0 else f"{bad} of {n} cases differ")
    return 1 if bad else 0


# ---- engine feature goldens (rendered by jinja2 itself) ----
FEATURES = {
    "loop_vars": "{% for x in xs %}{{ loop.index }}/{{ loop.index0 }}/{{ loop.revindex }}/{{ loop.revindex0 }}/{{ loop.length }}/{{ loop.first }}/{{ loop.last }}{% if not loop.first %} prev={{ loop.previtem }}{% endif %}{% if not loop.last %} next={{ loop.nextitem }}{% endif %};{% endfor %}{% for x in xs %}{{ loop.cycle('a', 'b') }}{% endfor %}",
    "loop_filter_else": "{% for x in xs if x > 2 %}{{ x }}({{ loop.index }}/{{ loop.length }}){% else %}none{% endfor %}|{% for y in [] %}{{ y }}{% else %}empty{% endfor %}|{% for x in xs if x > 9 %}{{ x }}{% else %}filtered-out{% endfor %}",
    "loop_break_continue": "{% for x in xs %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 4 %}{% break %}{% endif %}{{ x }}{% endfor %}",
    "loop_unpack_items": "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}|{% for k, v in d|items %}{{ k }}:{{ v }}{% endfor %}|{% for k in d %}{{ k }}{% endfor %}|{% for (a, b) in [(1, 2), (3, 4)] %}{{ a + b }}{% endfor %}",
    "nested_loops": "{% for a in xs %}{% for b in xs %}{% if b > a %}{% break %}{% endif %}{{ a }}{{ b }}{{ loop.index }},{% endfor %}{{ loop.index }};{% endfor %}",
    "namespace_counter": "{% set ns = namespace(n=0, s='') %}{% for x in xs %}{% set ns.n = ns.n + x %}{% set ns.s = ns.s ~ x %}{% endfor %}{{ ns.n }} {{ ns.s }}{% set ns2 = namespace() %}{% set ns2.flag = true %}{{ ns2.flag }}",
    "scoping": "{% set x = 1 %}{% for i in xs %}{{ x }}{% set x = i %}{% endfor %}{{ x }}{% if true %}{% set y = 5 %}{% endif %}{{ y }}{% for i in [1, 2] %}{% if i == 2 %}[{{ z }}]{% endif %}{% set z = i %}{% endfor %}",
    "set_block": "{% set body %}Hello {{ name }}!{% endset %}[{{ body }}]{% set up | upper %}abc{% endset %}{{ up }}{% set a, b = 1, 2 %}{{ a }}{{ b }}{% set tup = 1, 2 %}{{ tup }}",
    "slicing": "{{ xs[1:] }}{{ xs[:2] }}{{ xs[::-1] }}{{ xs[-2:] }}{{ xs[::2] }}{{ s[::-1] }}{{ s[1:3] }}{{ s[-1] }}{{ xs[-1] }}{{ xs[10:] }}{{ xs[3:1:-1] }}{{ 'héllo'[1] }}{{ 'héllo'[::-1] }}",
    "string_methods": "{{ s.startswith('he') }}{{ s.endswith('x') }}{{ s.startswith(('x', 'h')) }}{{ s.split('l') }}{{ ' a  b '.split() }}{{ 'a,b,c'.split(',', 1) }}{{ 'a b c'.split(maxsplit=1) }}{{ 'a,b,c'.rsplit(',', 1) }}{{ '..x..'.strip('.') }}|{{ '  y '.lstrip() }}|{{ ' z  '.rstrip() }}|{{ 'xxyxx'.rstrip('x') }}|{{ s.upper() }}{{ \"they're bill's\".title() }}{{ 'hELLO wORLD'.capitalize() }}{{ s.replace('l', 'L') }}{{ s.replace('l', 'L', 1) }}{{ s.find('lo') }}{{ s.find('zz') }}{{ s.count('l') }}{{ '-'.join(['a', 'b']) }}{{ 'a\\nb\\r\\nc'.splitlines() }}{{ '{} and {}'.format(1, 'x') }}{{ '{0}{name}'.format(7, name='n') }}{{ 'abc'.isalpha() }}{{ '12'.isdigit() }}",
    "filters_text": "{{ '  pad  ' | trim }}|{{ 'xxpadxx' | trim('x') }}|{{ 'abc' | upper }}|{{ 'ABC' | lower }}|{{ 'hello world-foo (bar)' | title }}|{{ 'hELLO' | capitalize }}|{{ 'a-b-c' | replace('-', '+') }}|{{ xs | join(', ') }}|{{ msgs | join(';', attribute='role') }}|{{ xs | length }}|{{ 'héllo' | length }}|{{ d | length }}|{{ xs | first }}{{ xs | last }}{{ 'abc' | first }}|{{ 'one two  three' | wordcount }}|{{ 'a\\nb\\n\\nc' | indent(2) }}|{{ 'a\\nb' | indent(2, true) }}|{{ 'a\\n\\nb' | indent(width='> ', blank=true) }}",
    "filters_list": "{{ xs | reverse | list }}{{ xs | sort(reverse=true) }}{{ [3, 1, 2] | sort }}{{ ['b', 'A', 'a', 'B'] | sort }}{{ ['b', 'A', 'a'] | unique | list }}{{ msgs | map(attribute='role') | list }}{{ msgs | map(attribute='missing', default='-') | list }}{{ msgs | selectattr('role', 'equalto', 'user') | map(attribute='content') | join('+') }}{{ msgs | rejectattr('role', 'equalto', 'user') | list | length }}{{ xs | select('odd') | list }}{{ xs | reject('even') | list }}{{ [0, 1, '', 'a', none] | select | list }}{{ ['a', 'b'] | map('upper') | list }}{{ msgs | sort(attribute='content', reverse=true) | map(attribute='content') | join }}{{ xs | sum }}{{ xs | min }}{{ xs | max }}{{ 'abc' | list }}",
    "filters_misc": "{{ missing | default('dflt') }}|{{ '' | default('empty', true) }}|{{ '' | d('e2', boolean=true) }}|{{ none | default('x') }}|{{ '42' | int + 1 }}|{{ 'x' | int }}|{{ 'x' | int(7) }}|{{ '3.9' | int }}|{{ 2.7 | int }}|{{ '3.5' | float }}|{{ -3 | abs }}|{{ 7 | string }}{{ 'x' | safe }}|{{ d | dictsort }}|{{ {'x': 2, 'Y': 1, 'a': 3} | dictsort(by='value', reverse=true) }}{{ {'b': 1, 'A': 2, 'a': 3} | dictsort }}|{{ 3.14159 | round(2) }}|{{ 2.5 | round }}|{{ 3.5 | round }}|{{ 2.1 | round(0, 'ceil') }}|{{ 2.9 | round(method='floor') }}|{{ 7 | round }}|{{ '<a href=\"x\">&' | e }}|{{ '%s-%d' | format('a', 3) }}|{{ 'a%sc' % 'b' }}",
    "tojson_forms": "{{ d | tojson }}|{{ xs | tojson }}|{{ 'a\"b\\n\\t\\\\ é \\x01' | tojson }}|{{ none | tojson }}|{{ true | tojson }}|{{ nested | tojson(indent=2) }}|{{ nested | tojson(indent='\\t') }}|{{ d | tojson(separators=(',', ':')) }}|{{ {'b': 1, 'a': 2} | tojson(sort_keys=true) }}|{{ 'é' | tojson(ensure_ascii=true) }}|{{ floats | tojson }}",
    "tests": "{{ x is defined }}{{ y is undefined }}{{ n is none }}{{ 's' is string }}{{ 1 is number }}{{ t is number }}{{ 1 is integer }}{{ t is integer }}{{ 1.5 is float }}{{ d is mapping }}{{ xs is mapping }}{{ xs is iterable }}{{ 's' is iterable }}{{ xs is sequence }}{{ 4 is even }}{{ 3 is odd }}{{ 9 is divisibleby 3 }}{{ 9 is divisibleby(4) }}{{ 'a' is eq('a') }}{{ 2 is equalto 2 }}{{ t is true }}{{ 1 is true }}{{ f is false }}{{ t is boolean }}{{ n is not none }}{{ 'a' in 'cat' }}{{ 'z' not in xs }}{{ 3 in xs }}{{ 'a' in d }}{{ 3 is gt 2 }}{{ 3 is lt(2) }}{{ 'abc' is lower }}{{ n is sameas none }}{{ 'up' is upper }}{{ 3 is ne 3 }}{{ 2 is in xs }}",
    "arithmetic": "{{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 7.5 % 2 }} {{ -7.5 // 2 }} {{ 2 ** 5 }} {{ 2 ** -1 }} {{ 7 / 2 }} {{ 4 / 2 }} {{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 'a' ~ 1 ~ none ~ missing }} {{ 'ab' * 2 }} {{ xs + [9] }} {{ 10 - 2 - 3 }} {{ -xs[0] }} {{ 1.5 + 1 }} {{ 0.1 + 0.2 }} {{ 1e20 }} {{ 1e-5 }} {{ 123456789.125 }} {{ true + 1 }} {{ 2 ** 3 ** 2 }}",
    "conditional_expr": "{{ 'yes' if t else 'no' }}{{ 'y' if f else 'n' }}[{{ 'only' if f }}]{{ (x or 'fallback') }}{{ (n or 'nn') }}{{ (t and 'both') }}{{ (f and 'never') }}{{ not t }}{{ not missing }}{{ 'a' if f else 'b' if t else 'c' }}",
    "comparisons": "{{ 1 < 2 < 3 }}{{ 3 > 2 > 2 }}{{ 'a' < 'b' }}{{ 1 == 1.0 }}{{ xs == [1, 2, 3, 4, 5] }}{{ d == {'a': 1, 'b': 'two'} }}{{ 1 != 2 }}{{ 2 >= 2 }}{{ [1, 2] < [1, 3] }}{{ none == none }}{{ missing == missing }}{{ t == 1 }}",
    "macro_call": "{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('Ann') }} {{ greet('Bob', '?') }} {{ greet(name='Cy', punct='.') }}{% macro wrap() %}<{{ caller() }}>{% endmacro %}{% call wrap() %}inner {{ s }}{% endcall %}",
    "whitespace_control": "a  \n  {%- if true -%}  \n  b  \n  {%- endif -%}  \n  c\n  {% if true %}\n    d\n  {% endif %}\n{# comment #}\n  e {{ 'f' }}  \n{{- ' g' }}\n  {%+ if true %}plus{% endif %}\n{% if true +%}\nkeep\n{% endif %}\n{% raw %}{{ not parsed }}{% endraw %}\n",
    "lstrip_trim_blocks": "<ul>\n    {% for x in xs %}\n    <li>{{ x }}</li>\n    {% endfor %}\n</ul>\n  {# c #}\n  x {% if true %}y{% endif %}\n\t{% if true %}\ntab{% endif %}\r\nwin\r\n",
    "dict_methods": "{{ d.get('a') }}{{ d.get('zz', 'dv') }}{{ d.get('zz') }}{{ d.keys() | list }}{{ d.values() | list }}{{ d.items() | list }}{{ d['b'] }}{{ d.b }}{{ 'a' in d }}{{ dict(k=1, j='x') }}{{ {'x': [1, {'y': none}]} }}",
    "range_loop": "{% for i in range(3) %}{{ i }}{% endfor %}{% for i in range(1, 10, 3) %}{{ i }}{% endfor %}{% for i in range(5, 0, -2) %}{{ i }}{% endfor %}{{ range(4) | list }}",
    "string_escapes": "{{ 'tab\\there' }}|{{ \"dq 'sq'\" }}|{{ 'uni\\u00e9' }}|{{ 'nl\\\\n' }}|{{ 'a' 'b' }}|{{ 'oct\\101' }}|{{ 'keep\\d' }}",
    "print_python_values": "{{ none }} {{ true }} {{ false }} {{ 3 }} {{ 2.5 }} {{ 1.0 }} {{ -0.0 }} {{ 'str' }} {{ xs }} {{ ['a', \"it's\", 'q\"', 'both\\'\"', 'nl\\n', none, true, 1.5] }} {{ (1,) }} {{ (1, 'a') }} {{ nested }} {{ floats }}",
    "undefined_chain_defined": "{{ d.zz is defined }}{{ d.a is defined }}{{ missing is defined }}[{{ missing }}][{{ d.zz }}]{{ missing | length }}{% for z in missing %}x{% endfor %}{{ xs[10] is defined }}{{ missing | default('dd') }}{{ d.zz | default('dz') }}",
    "with_filter_generation": "{% with a = 1, b = s %}{{ a }}{{ b }}{% endwith %}{% filter upper %}up {{ s }}{% endfilter %}{% generation %}gen{% endgeneration %}",
}
FEATURE_CTX = {
    "xs": [1, 2, 3, 4, 5], "s": "hello", "d": {"a": 1, "b": "two"}, "x": "xval", "n": None, "t": True, "f": False,
    "name": "World",
    "msgs": [{"role": "user", "content": "u1"}, {"role": "assistant", "content": "a1"}, {"role": "user", "content": "u2"}],
    "nested": {"k": [1, {"z": "é"}], "e": [], "o": {}},
    "floats": [1.0, 0.5, 1e-07, 1e16, 1.5e300, -2.25, 100.0, 0.1],
}
RAISES = {
    "raise_in_macro": ("{% macro check(x) %}{% if x > 1 %}{{ raise_exception('too big: ' ~ x) }}{% endif %}ok{% endmacro %}{{ check(1) }}{{ check(5) }}", FEATURE_CTX),
}


def features():
    doc = json.loads((HERE / "chat_goldens.json").read_text(encoding="utf-8"))
    templates, cases = {}, []
    for name, src in FEATURES.items():
        templates["feature_" + name] = src
        cases.append({"name": "features/" + name, "template": "feature_" + name, "context": FEATURE_CTX})
    for name, (src, ctx) in RAISES.items():
        templates["feature_" + name] = src
        cases.append({"name": "features/" + name, "template": "feature_" + name, "context": ctx})
    # Real-template cases @huggingface/jinja 0.5.11 cannot render (no `reject` filter).
    templates["llama3_1"] = doc["templates"]["llama3_1"]
    call = {"type": "function", "function": {"name": "brave_search", "arguments": {"query": "llama 3.1 release"}}}
    cases.append({"name": "llama3_1/builtin_tools", "template": "llama3_1", "context": {
        "tools": None, "documents": None, "add_generation_prompt": True, "bos_token": "<|begin_of_text|>",
        "eos_token": "<|eot_id|>", "builtin_tools": ["brave_search", "code_interpreter", "wolfram_alpha"],
        "messages": [{"role": "user", "content": "Search"}, {"role": "assistant", "tool_calls": [call]},
                     {"role": "tool", "content": "results..."}]}})
    # Mistral v0.3 with a dict tool result: `content|string` prints the Python repr.
    templates["mistral_v0_3"] = doc["templates"]["mistral_v0_3"]
    cases.append({"name": "mistral_v0_3/dict_tool_result_repr", "template": "mistral_v0_3", "context": {
        "tools": None, "documents": None, "add_generation_prompt": False, "bos_token": "<s>", "eos_token": "</s>",
        "messages": [{"role": "user", "content": "x"},
                     {"role": "assistant", "tool_calls": [{"id": "abcDEF123", "type": "function",
                                                           "function": {"name": "f", "arguments": {"a": 1.0}}}]},
                     {"role": "tool", "tool_call_id": "abcDEF123", "content": {"ok": True, "v": [1.5, None, "it's"]}}]}})
    for c in cases:
        c.update(render(templates[c["template"]], c["context"]))
    out = {"generator": f"Python jinja2 {jinja2.__version__} via tests/golden/chat/jinja2_reference.py features",
           "templates": templates, "cases": cases}
    (HERE / "chat_feature_goldens.json").write_text(json.dumps(out, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {len(cases)} cases to chat_feature_goldens.json")
    return 0


if __name__ == "__main__":
    cmd = sys.argv[1] if len(sys.argv) > 1 else "check"
    sys.exit(check() if cmd == "check" else features())
