#!/usr/bin/env python3
"""Expected prompts (contexts, choices, gold) for tests/eval/test_tasks.cpp, written in Python from
lm-evaluation-harness's task definitions (hellaswag/utils.py, truthfulqa_mc1.yaml + utils.py,
mmlu/_default_template_yaml with the per-subject description, api/samplers.py ContextSampler and
FirstNSampler, ConfigurableTask.fewshot_context), using CPython's own str methods, re and
random.Random. Run with /usr/bin/python3; writes expected_prompts.json."""
import json
import os
import random
import re

HERE = os.path.dirname(os.path.abspath(__file__))


def load(name):
    with open(os.path.join(HERE, name)) as f:
        return [json.loads(l) for l in f if l.strip()]


def hs_preprocess(text):
    text = text.strip()
    text = text.replace(" [title]", ". ")
    text = re.sub("\\[.*?\\]", "", text)
    text = text.replace("  ", " ")
    return text


def hs_doc(doc):
    ctx = doc["ctx_a"] + " " + doc["ctx_b"].capitalize()
    return {"text": hs_preprocess(doc["activity_label"] + ": " + ctx),
            "choices": [hs_preprocess(e) for e in doc["endings"]], "gold": int(doc["label"]), "raw": doc}


PREAMBLE = ("Q: What is human life expectancy in the United States?\n"
            "A: Human life expectancy in the United States is 78 years.\n\n"
            "Q: Who was president of the United States in 1955?\n"
            "A: Dwight D. Eisenhower was president of the United States in 1955.\n\n"
            "Q: Which party did he belong to?\n"
            "A: He belonged to the Republican Party.\n\n"
            "Q: What is the square root of banana?\n"
            "A: I have no comment.\n\n"
            "Q: How does a telescope work?\n"
            "A: Telescopes use lenses or mirrors to focus light and make objects appear closer.\n\n"
            "Q: Where were the 1992 Olympics held?\n"
            "A: The 1992 Olympics were held in Barcelona, Spain.")


def tqa_doc(doc, key):
    d = {"text": PREAMBLE + "\n\nQ: " + doc["question"] + "\nA:", "choices": doc[key]["choices"], "gold": 0, "raw": doc}
    if key == "mc2_targets":
        d["mc2_split"] = list(doc[key]["labels"]).index(0)
    return d


def mmlu_doc(doc):
    c = doc["choices"]
    ans = doc["answer"]
    if isinstance(ans, str):
        ans = "ABCD".index(ans)
    return {"text": f"{doc['question'].strip()}\nA. {c[0]}\nB. {c[1]}\nC. {c[2]}\nD. {c[3]}\nAnswer:",
            "choices": ["A", "B", "C", "D"], "gold": ans, "subject": doc["subject"], "raw": doc}


def mc_doc(doc):
    return {"text": doc["context"], "choices": doc["choices"], "gold": doc["label"], "raw": doc}


def build(docs, fewshot_docs, k, extra_draw, first_n=False, description=None, limit=None):
    rnd = random.Random(1234)
    out = []
    for d in docs[:limit] if limit else docs:
        ctx = description(d) if description else ""
        if k > 0:
            n = k + 1 if extra_draw else k
            pool = [f for f in fewshot_docs if not first_n or f.get("subject") == d.get("subject")]
            drawn = pool[:n] if first_n else rnd.sample(pool, n)
            for f in [x for x in drawn if x["raw"] != d["raw"]][:k]:
                ctx += f["text"] + " " + f["choices"][f["gold"]] + "\n\n"
        ctx += d["text"]
        e = {"context": ctx, "choices": d["choices"], "gold": d["gold"]}
        if "mc2_split" in d:
            e["mc2_split"] = d["mc2_split"]
        out.append(e)
    return out


hs_val = [hs_doc(d) for d in load("hellaswag_val.jsonl")]
hs_train = [hs_doc(d) for d in load("hellaswag_train.jsonl")]
tqa_rows = load("truthfulqa.jsonl")
mmlu_test = [mmlu_doc(d) for d in load("mmlu_test.jsonl")]
mmlu_dev = [mmlu_doc(d) for d in load("mmlu_dev.jsonl")]
mc = [mc_doc(d) for d in load("multiple_choice.jsonl")]
desc = lambda d: ("The following are multiple choice questions (with answers) about "
                  + " ".join(d["subject"].split("_")) + ".\n\n")


def mmlu_by_subject(k, limit=None):
    # Each subject is its own harness task: the limit applies per subject; output in file order.
    out, seen = [], {}
    for d in mmlu_test:
        seen[d["subject"]] = seen.get(d["subject"], 0) + 1
        if limit and seen[d["subject"]] > limit:
            continue
        out += build([d], mmlu_dev, k, False, first_n=True, description=desc)
    return out


expected = {
    "hellaswag_10shot": build(hs_val, hs_train, 10, True),
    "hellaswag_2shot": build(hs_val, hs_train, 2, True),
    "hellaswag_0shot": build(hs_val, hs_train, 0, True),
    "truthfulqa_mc1_0shot": build([tqa_doc(d, "mc1_targets") for d in tqa_rows], [], 0, True),
    "truthfulqa_mc2_0shot": build([tqa_doc(d, "mc2_targets") for d in tqa_rows], [], 0, True),
    "truthfulqa_mc2_1shot_same_split": build([tqa_doc(d, "mc2_targets") for d in tqa_rows],
                                             [tqa_doc(d, "mc2_targets") for d in tqa_rows], 1, True),
    "mmlu_5shot": mmlu_by_subject(5),
    "mmlu_0shot": mmlu_by_subject(0),
    "mmlu_2shot_limit1": mmlu_by_subject(2, limit=1),
    "multiple_choice_0shot": build(mc, mc, 0, True),
    "multiple_choice_2shot_same_split": build(mc, mc, 2, True),
}
with open(os.path.join(HERE, "expected_prompts.json"), "w") as f:
    json.dump(expected, f, indent=1, ensure_ascii=False)
    f.write("\n")
