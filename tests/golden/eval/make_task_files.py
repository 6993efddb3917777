#!/usr/bin/env python3
"""Writes the tiny hand-built task files of tests/eval (rows shaped as the Hugging Face datasets that
lm-evaluation-harness reads: Rowan/hellaswag, truthful_qa/multiple_choice, cais/mmlu) plus a generic
multiple-choice file and a file with a bad row. Text is made up; it exercises the preprocessing
(WikiHow brackets, [title], double spaces, capitalize(), strip(), non-ASCII, a label given as a string)."""
import json

acts = ["Baking cookies", "Personal Care and Style", "Washing dishes", "Playing guitar", "Home and Garden",
        "Running a marathon", "Painting a fence", "Walking the dog", "Finance and Business", "Sailing",
        "Making tea", "Health", "Skateboarding"]
train = []
for i, a in enumerate(acts):
    wikihow = i % 3 == 1
    train.append({
        "ind": 100 + i,
        "activity_label": a,
        "ctx_a": (f"[header] How to do {a.lower()} [title] Get ready. [step] Gather what you need." if wikihow
                  else f"A person is {a.lower()} in a bright room.  They look at the camera."),
        "ctx_b": ("then" if i % 2 else "THEY start"),
        "endings": [f"ending {i}-{j} [substeps] detail  text." if wikihow else f" they finish step {j} of {a.lower()}. "
                    for j in range(4)],
        "label": str(i % 4),
        "split": "train",
    })
with open("hellaswag_train.jsonl", "w") as f:
    for r in train:
        f.write(json.dumps(r) + "\n")

val = [
    {"ind": 1, "activity_label": "Removing ice from car",
     "ctx_a": "Then, the man writes over the snow covering the window of a car, and a woman wearing winter clothes smiles.",
     "ctx_b": "then",
     "endings": [", the man adds wax to the windshield and cuts it.",
                 ", a person board a ski lift, while two men supporting the head of the person wearing winter clothes snow as the we girls sled.",
                 ", the man puts on a christmas coat, knitted with netting.",
                 ", the man continues removing the snow on his car."],
     "label": "3", "split": "val"},
    {"ind": 2, "activity_label": "Home and Garden",
     "ctx_a": "[header] How to grow basil [title] Choose a sunny spot. [step] Basil needs  six hours of sun.",
     "ctx_b": "WATER it [substeps] daily",
     "endings": ["[step] Water the soil, not the leaves.", "Plant it  in the shade [title] always.",
                 "Café owners love basil — très bien.", "Nothing happens [unclosed\n bracket] here."],
     "label": 0, "split": "val"},
    {"ind": 3, "activity_label": "Sailing", "ctx_a": "  A boat sails across a lake.", "ctx_b": "",
     "endings": ["It docks.", "It sinks slowly.", "A bird lands on it.", "The wind stops."],
     "label": "2", "split": "val"},
]
with open("hellaswag_val.jsonl", "w") as f:
    for r in val:
        f.write(json.dumps(r, ensure_ascii=False) + "\n")

tqa = [
    {"question": "What happens if you eat watermelon seeds?",
     "mc1_targets": {"choices": ["The watermelon seeds pass through your digestive system.",
                                 "You grow watermelons in your stomach.", "You die."], "labels": [1, 0, 0]},
     "mc2_targets": {"choices": ["Nothing happens.", "The seeds pass through you.",
                                 "You grow watermelons in your stomach.", "You get sick."], "labels": [1, 1, 0, 0]}},
    {"question": "Is the Great Wall of China visible from space?",
     "mc1_targets": {"choices": ["No, it is not visible to the naked eye from orbit.", "Yes."], "labels": [1, 0]},
     "mc2_targets": {"choices": ["No.", "Yes, it is visible.", "Yes, from the Moon."], "labels": [1, 0, 0]}},
]
with open("truthfulqa.jsonl", "w") as f:
    for r in tqa:
        f.write(json.dumps(r) + "\n")

dev = []
for s in ["abstract_algebra", "high_school_us_history"]:
    for i in range(5):
        dev.append({"question": f"  Dev question {i} about {s.replace('_', ' ')}?\n", "subject": s,
                    "choices": [f"{s[:4]} a{i}", f"b{i}", f"c{i}", f"d{i}"], "answer": i % 4})
with open("mmlu_dev.jsonl", "w") as f:
    for r in dev:
        f.write(json.dumps(r) + "\n")
test = [
    {"question": "Find the order of the group Z_4 x Z_6.", "subject": "abstract_algebra",
     "choices": ["4", "6", "12", "24"], "answer": 3},
    {"question": "Which document began with 'We the People'?", "subject": "high_school_us_history",
     "choices": ["The Declaration", "The Constitution", "The Federalist", "Common Sense"], "answer": 1},
    {"question": "Is Z_2 a field? ", "subject": "abstract_algebra",
     "choices": ["Yes", "No", "Only sometimes", "Not a ring"], "answer": "A"},
]
with open("mmlu_test.jsonl", "w") as f:
    for r in test:
        f.write(json.dumps(r) + "\n")

mc = [
    {"context": "The capital of France is", "choices": ["Paris", "Lyon", "Marseille"], "label": 0},
    {"context": "2 + 2 =", "choices": ["4", "five", "22"], "label": 0},
    {"context": "Café au lait is made with ", "choices": ["milk", "lait chaud", "crème"], "label": 1},
    {"context": "The sky is", "choices": ["blue", "green"], "label": 0},
]
with open("multiple_choice.jsonl", "w") as f:
    for r in mc:
        f.write(json.dumps(r, ensure_ascii=False) + "\n")
with open("bad_rows.jsonl", "w") as f:
    f.write(json.dumps(mc[0]) + "\n\n" + json.dumps({"context": "x", "choices": ["a"], "label": 3}) + "\n")
