"""Reference: TF Serving's own Python client (tensorflow-serving-api) calling
Classify, Regress and MultiInference on a gRPC PredictionService that
serves estimator_savedmodel.py's model.

Reads {"address", "model", "cases": {NAME: {"context"?, "examples"}},
"too_many": N} (examples as in estimator_savedmodel.py) and prints

    {"answers": {CALL: {"spec": {...}, "classes"?, "scores"?, "values"?}},
     "multi": [{"spec": {...}, "classes"/"scores" or "values"}, ...],
     "errors": {CASE: [CODE, MESSAGE]}}

where the answers are those of calls that must succeed and the errors the
status of requests the server must refuse (then "after", a call that must
succeed again).
"""
import json
import sys

import grpc
from tensorflow_serving.apis import (classification_pb2, inference_pb2, input_pb2,
                                     prediction_service_pb2_grpc, regression_pb2)

from estimator_savedmodel import example

CLASSIFY = "tensorflow/serving/classify"
REGRESS = "tensorflow/serving/regress"


def fill(inp, case):
    if case.get("context") is not None:
        lst = inp.example_list_with_context
        lst.context.CopyFrom(example(case["context"]))
    else:
        lst = inp.example_list
    for spec in case["examples"]:
        lst.examples.add().CopyFrom(example(spec))


def spec_of(ms):
    return {"name": ms.name, "signature": ms.signature_name, "version": ms.version.value}


def classification(result):
    return {"classes": [[c.label for c in cl.classes] for cl in result.classifications],
            "scores": [[c.score for c in cl.classes] for cl in result.classifications]}


def main():
    cfg = json.load(sys.stdin)
    stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(cfg["address"]))
    cases = cfg["cases"]

    def classify(case=None, signature="", model=None, build=None):
        req = classification_pb2.ClassificationRequest()
        req.model_spec.name = model or cfg["model"]
        req.model_spec.signature_name = signature
        if build is not None:
            build(req.input)
        elif case is not None:
            fill(req.input, cases[case])
        return stub.Classify(req, timeout=60)

    def regress(case, signature=""):
        req = regression_pb2.RegressionRequest()
        req.model_spec.name = cfg["model"]
        req.model_spec.signature_name = signature
        fill(req.input, cases[case])
        return stub.Regress(req, timeout=60)

    def multi(case, tasks):
        req = inference_pb2.MultiInferenceRequest()
        for model, signature, method in tasks:
            t = req.tasks.add()
            t.model_spec.name = model
            t.model_spec.signature_name = signature
            t.method_name = method
        if case is not None:
            fill(req.input, cases[case])
        return stub.MultiInference(req, timeout=60)

    answers = {}
    for name, call in {
        "classify_default": lambda: classify("plain"),
        "classify_context": lambda: classify("ctx", "classify"),
        "scores_only": lambda: classify("plain", "classify_scores"),
        "classes_only": lambda: classify("plain", "classify_classes"),
    }.items():
        r = call()
        answers[name] = dict(classification(r.result), spec=spec_of(r.model_spec))
    for name, case in {"regress_plain": "plain", "regress_context": "ctx"}.items():
        r = regress(case, "regress")
        answers[name] = {"values": [x.value for x in r.result.regressions], "spec": spec_of(r.model_spec)}

    m = cfg["model"]
    resp = multi("ctx", [(m, "classify", CLASSIFY), (m, "regress", REGRESS)])
    results = []
    for res in resp.results:
        out = {"spec": spec_of(res.model_spec)}
        if res.HasField("classification_result"):
            out.update(classification(res.classification_result))
        else:
            out["values"] = [x.value for x in res.regression_result.regressions]
        results.append(out)

    def empty_list(inp):
        inp.example_list.SetInParent()

    def context_only(inp):
        inp.example_list_with_context.context.CopyFrom(example(cases["ctx"]["context"]))

    def too_many(inp):
        for _ in range(cfg["too_many"]):
            inp.example_list.examples.add().CopyFrom(example(cases["plain"]["examples"][0]))

    errors = {}
    for name, call in {
        "unknown_model": lambda: classify("plain", model="nope"),
        "unknown_signature": lambda: classify("plain", "nope"),
        "classify_on_regress": lambda: classify("plain", "regress"),
        "classify_on_predict": lambda: classify("plain", "predict"),
        "regress_on_classify": lambda: regress("plain", "classify"),
        "empty_list": lambda: classify(build=empty_list),
        "context_only": lambda: classify(build=context_only),
        "no_input": lambda: classify(),
        "too_many": lambda: classify(build=too_many),
        "classify_bad_output": lambda: classify("plain", "classify_bad"),
        "regress_bad_output": lambda: regress("plain", "regress_bad"),
        "multi_same_signature": lambda: multi("plain", [(m, "classify", CLASSIFY), (m, "classify", CLASSIFY)]),
        "multi_two_models": lambda: multi("plain", [(m, "classify", CLASSIFY), ("other", "regress", REGRESS)]),
        "multi_unknown_method": lambda: multi("plain", [(m, "predict", "tensorflow/serving/predict")]),
        "multi_wrong_method": lambda: multi("plain", [(m, "regress", CLASSIFY)]),
        "multi_no_tasks": lambda: multi("plain", []),
        "multi_no_input": lambda: multi(None, [(m, "classify", CLASSIFY)]),
        "after": lambda: classify("plain"),
    }.items():
        try:
            call()
            errors[name] = ["OK", ""]
        except grpc.RpcError as e:
            errors[name] = [e.code().name, e.details()]
    json.dump({"answers": answers, "multi": results, "errors": errors}, sys.stdout)


if __name__ == "__main__":
    main()
