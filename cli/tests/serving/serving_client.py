"""A TensorFlow Serving REST client that knows only TF Serving's documented API (requests,
the row and columnar formats, named inputs): checks that `kiln serve` answers as `kiln
predict` wrote, within 1e-6.

usage: serving_client.py PORT MODEL_NAME INSTANCES.jsonl RESULTS.jsonl
"""

import json
import sys

import requests

port, name, instances_path, results_path = sys.argv[1:5]
base = f"http://127.0.0.1:{port}/v1/models/{name}"

with open(instances_path) as f:
    instances = [json.loads(line) for line in f if line.strip()]
with open(results_path) as f:
    expected = [json.loads(line)["prediction"] for line in f]
assert len(instances) == len(expected) > 0


def flat(value):
    if isinstance(value, dict):
        return [v for k in sorted(value) for v in flat(value[k])]
    if isinstance(value, list):
        return [v for item in value for v in flat(item)]
    return [float(value)]


def close(got, want, what):
    a, b = flat(got), flat(want)
    assert len(a) == len(b), f"{what}: {len(a)} values, expected {len(b)}"
    worst = max(abs(x - y) for x, y in zip(a, b))
    assert worst <= 1e-6, f"{what}: off by {worst}"
    return worst


# the model's status and metadata
status = requests.get(base, timeout=30)
assert status.status_code == 200, status.text
assert status.json()["model_version_status"][0]["state"] == "AVAILABLE", status.text
meta = requests.get(f"{base}/metadata", timeout=30).json()
signature = meta["metadata"]["signature_def"]["signature_def"]["serving_default"]
inputs = sorted(signature["inputs"])
outputs = sorted(signature["outputs"])
named = isinstance(instances[0], dict)
if named:
    assert inputs == sorted(instances[0]), (inputs, sorted(instances[0]))
print("inputs", inputs, "outputs", outputs)

worst = 0.0
# the row format, all at once and one at a time
answer = requests.post(f"{base}:predict", json={"instances": instances}, timeout=60)
assert answer.status_code == 200, answer.text
predictions = answer.json()["predictions"]
assert len(predictions) == len(expected)
if len(outputs) > 1:
    assert sorted(predictions[0]) == outputs, predictions[0]
worst = max(worst, close(predictions, expected, "row format"))
for i in range(3):
    one = requests.post(f"{base}:predict", json={"instances": [instances[i]]}, timeout=60)
    worst = max(worst, close(one.json()["predictions"][0], expected[i], f"instance {i}"))

# the columnar format: each input's batch (by name for several inputs)
if named:
    columns = {k: [inst[k] for inst in instances] for k in inputs}
else:
    columns = instances
answer = requests.post(f"{base}:predict", json={"inputs": columns}, timeout=60)
assert answer.status_code == 200, answer.text
got = answer.json()["outputs"]
if len(outputs) > 1:
    want = {k: [e[k] for e in expected] for k in outputs}
else:
    want = expected
worst = max(worst, close(got, want, "columnar format"))

# an unknown model, a bad request
missing = requests.post(
    f"http://127.0.0.1:{port}/v1/models/nope:predict", json={"instances": instances}, timeout=30
)
assert missing.status_code == 404 and "error" in missing.json(), missing.text
bad = requests.post(f"{base}:predict", json={"instances": [[1, 2, 3]]}, timeout=30)
assert bad.status_code == 400 and "error" in bad.json(), bad.text

print(f"checked {len(instances)} instances of {name}: largest difference {worst:.2e}")
