"""Reference: the official Open Inference Protocol (KServe v2) clients,
tritonclient.http and tritonclient.grpc, against a server, beside Python
TensorFlow's own answers for the same SavedModels.

Two modes, by {"mode"}:

"export": reads {"dir": DIR, "types_dir"?: DIR2}; saves with
tf.saved_model.save to DIR a module whose "serving_default" signature takes
"text" (string, (None,)) and "n" (int64, (None,)) and returns {"len": int32
length of text, "upper": upper-cased text, "twice": 2n, "positive": n > 0},
and to DIR2 one taking "flag" (bool), "pix" (uint8), "k" (int32) and "x"
(float64), each (None, 2), returning {"not_flag", "pix_inv": 255 - pix,
"k_neg": -k, "x_half": x / 2}; prints {}.

"client": reads {"http": "host:port", "grpc": "host:port", "models": [{"name",
"dir" (the version folder, for tf.saved_model.load), "inputs": {name:
{"datatype", "shape", "data"}}}]} and, for each model, prints under its name
{"reference": TF's outputs, "infer": {"http_binary", "http_json",
"http_default", "grpc", "grpc_bytes_version": the outputs each client got},
"metadata": {"http", "grpc"}, "ready": {"http", "grpc"}, "id": the request id
the server echoed}, plus {"server": {"live", "ready", "metadata"} over both
clients, "errors": {case: status the client saw}}. Outputs are {name:
{"datatype", "shape", "data"}}, strings as str.
"""
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

NP = {"FP32": np.float32, "FP64": np.float64, "INT32": np.int32, "INT64": np.int64,
      "UINT8": np.uint8, "BOOL": np.bool_, "BYTES": np.object_}


class Mixed(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text"),
                                  tf.TensorSpec([None], tf.int64, name="n")])
    def serve(self, text, n):
        return {"len": tf.strings.length(text), "upper": tf.strings.upper(text),
                "twice": n * 2, "positive": n > 0}


class Types(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.bool, name="flag"),
                                  tf.TensorSpec([None, 2], tf.uint8, name="pix"),
                                  tf.TensorSpec([None, 2], tf.int32, name="k"),
                                  tf.TensorSpec([None, 2], tf.float64, name="x")])
    def serve(self, flag, pix, k, x):
        return {"not_flag": tf.logical_not(flag), "pix_inv": 255 - pix,
                "k_neg": -k, "x_half": x / 2}


def export(cfg):
    for key, cls in (("dir", Mixed), ("types_dir", Types)):
        if key in cfg:
            m = cls()
            tf.saved_model.save(m, cfg[key], signatures={"serving_default": m.serve})
    return {}


def array(spec):
    if spec["datatype"] == "BYTES":
        flat = np.array([s.encode() for s in spec["data"]], dtype=np.object_)
    else:
        flat = np.asarray(spec["data"], dtype=NP[spec["datatype"]])
    return flat.reshape(spec["shape"])


def plain(name, datatype, a):
    a = np.asarray(a)
    if a.dtype == np.object_ or a.dtype.kind == "S":
        data = [x.decode() if isinstance(x, bytes) else str(x) for x in a.ravel().tolist()]
    else:
        data = a.ravel().tolist()
    return {"datatype": datatype, "shape": list(a.shape), "data": data}


def reference(cfg_model):
    loaded = tf.saved_model.load(cfg_model["dir"])
    fn = loaded.signatures["serving_default"]
    feeds = {}
    for k, spec in cfg_model["inputs"].items():
        a = array(spec)
        feeds[k] = tf.constant(a.astype(bytes) if spec["datatype"] == "BYTES" else a)
    out = fn(**feeds)
    return {k: plain(k, "", v.numpy()) for k, v in out.items()}


def http_infer(client, model, cfg_model, binary_in, binary_out, outputs=True, request_id=""):
    import tritonclient.http as httpclient
    ins = []
    for k, spec in cfg_model["inputs"].items():
        i = httpclient.InferInput(k, spec["shape"], spec["datatype"])
        i.set_data_from_numpy(array(spec), binary_data=binary_in)
        ins.append(i)
    outs = None
    if outputs:
        outs = [httpclient.InferRequestedOutput(o, binary_data=binary_out) for o in cfg_model["outputs"]]
    r = client.infer(model, ins, outputs=outs, request_id=request_id)
    resp = r.get_response()
    return {o["name"]: plain(o["name"], o["datatype"], r.as_numpy(o["name"])) for o in resp["outputs"]}, resp.get("id", "")


def grpc_infer(client, model, cfg_model, version=""):
    import tritonclient.grpc as grpcclient
    ins = []
    for k, spec in cfg_model["inputs"].items():
        i = grpcclient.InferInput(k, spec["shape"], spec["datatype"])
        i.set_data_from_numpy(array(spec))
        ins.append(i)
    r = client.infer(model, ins, model_version=version, request_id="g-1")
    resp = r.get_response(as_json=True)
    return {o["name"]: plain(o["name"], o["datatype"], r.as_numpy(o["name"])) for o in resp["outputs"]}


def status_of(fn):
    from tritonclient.utils import InferenceServerException
    try:
        fn()
        return "OK"
    except InferenceServerException as e:
        return str(e.status())


def client_mode(cfg):
    import tritonclient.grpc as grpcclient
    import tritonclient.http as httpclient
    h = httpclient.InferenceServerClient(cfg["http"])
    g = grpcclient.InferenceServerClient(cfg["grpc"])
    out = {"server": {
        "live": {"http": h.is_server_live(), "grpc": g.is_server_live()},
        "ready": {"http": h.is_server_ready(), "grpc": g.is_server_ready()},
        "metadata": {"http": h.get_server_metadata(), "grpc": g.get_server_metadata(as_json=True)},
    }}
    for m in cfg["models"]:
        name = m["name"]
        res = {"reference": reference(m), "infer": {}}
        res["ready"] = {"http": h.is_model_ready(name), "grpc": g.is_model_ready(name),
                        "http_v1": h.is_model_ready(name, "1"), "grpc_v1": g.is_model_ready(name, "1"),
                        "http_v9": h.is_model_ready(name, "9")}
        res["metadata"] = {"http": h.get_model_metadata(name), "grpc": g.get_model_metadata(name, as_json=True)}
        res["infer"]["http_binary"], res["id"] = http_infer(h, name, m, True, True, request_id="h-1")
        res["infer"]["http_json"], _ = http_infer(h, name, m, False, False)
        res["infer"]["http_default"], _ = http_infer(h, name, m, True, True, outputs=False)
        res["infer"]["grpc"] = grpc_infer(g, name, m)
        res["infer"]["grpc_version"] = grpc_infer(g, name, m, version="1")
        # The statistics extension, as tritonclient asks for it.
        res["stats"] = {"http": h.get_inference_statistics(name), "grpc": g.get_inference_statistics(name, as_json=True)}
        out[name] = res
    first = cfg["models"][0]
    out["errors"] = {
        "http_unknown_model": status_of(lambda: http_infer(h, "nope", first, True, True)),
        "grpc_unknown_model": status_of(lambda: grpc_infer(g, "nope", first)),
        "http_unknown_version": status_of(lambda: h.get_model_metadata(first["name"], "9")),
        "grpc_unknown_version": status_of(lambda: g.get_model_metadata(first["name"], "9")),
        "grpc_bad_version": status_of(lambda: grpc_infer(g, first["name"], first, version="one")),
    }
    return out


def main():
    cfg = json.load(sys.stdin)
    out = export(cfg) if cfg.get("mode") == "export" else client_mode(cfg)
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
