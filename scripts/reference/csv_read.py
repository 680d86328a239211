"""Reads a CSV file the way csvdata promises, with Python's csv module and
numpy, as the independent reference for data/csvdata: stdin
{"path", "label", "targets"}, stdout {"x": [[...]], "y": [...],
"classes": [...]} with float32 values."""
import csv
import json
import sys

import numpy as np

req = json.load(sys.stdin)
with open(req["path"], newline="", encoding="utf-8-sig") as f:
    rows = list(csv.reader(f))
header = [h.strip() for h in rows[0]]
li = header.index(req["label"])
feats = [i for i in range(len(header)) if i != li]
x = np.array([[float(r[i]) for i in feats] for r in rows[1:]], dtype=np.float32)
labels = [r[li].strip() for r in rows[1:]]
out = {"x": x.tolist(), "classes": None}
if req["targets"]:
    out["y"] = np.array([float(v) for v in labels], dtype=np.float32).tolist()
elif all(v.isdigit() for v in labels):
    out["y"] = [int(v) for v in labels]
else:
    classes = sorted(set(labels))
    out["classes"] = classes
    out["y"] = [classes.index(v) for v in labels]
json.dump(out, sys.stdout)
