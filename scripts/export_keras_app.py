"""Export a keras.applications model without its top as a feature-extractor
SavedModel that Go loads (savedmodels.Load).

Usage: export_keras_app.py --out DIR [--model MobileNetV2] [--weights none|imagenet|PATH]
                           [--size 96] [--alpha 1.0] [--check FILE.json]
       export_keras_app.py --out DIR --keras FILE.keras [--check FILE.json]

--weights imagenet downloads Keras's weights (needs the network; not used
in tests); PATH loads a .weights.h5 file you supply; none leaves them
random. The SavedModel's serving_default signature takes float32 images
(None, size, size, 3) scaled to [-1, 1] and returns pooled features.
With --keras, exports that model instead (any Keras 3 model of one image
input, e.g. a backbone you trained; its own output, not pooled), with the
same signature. With --check, also writes FILE.json holding the features Python computes
for a deterministic test image, for Go's test to compare against.
"""
import argparse
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import keras  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--model", default="MobileNetV2")
    ap.add_argument("--weights", default="none")
    ap.add_argument("--size", type=int, default=96)
    ap.add_argument("--alpha", type=float, default=1.0)
    ap.add_argument("--check")
    ap.add_argument("--keras", help="export this .keras model instead of a keras.applications one")
    args = ap.parse_args()
    if args.keras:
        model = keras.models.load_model(args.keras, compile=False)
        args.size, args.model, args.weights = model.input_shape[1], os.path.basename(args.keras), "its own"
        export(model, args)
        return
    cls = getattr(keras.applications, args.model)
    kwargs = dict(include_top=False, input_shape=(args.size, args.size, 3), pooling="avg")
    if args.model.startswith("MobileNet"):
        kwargs["alpha"] = args.alpha
    weights = None if args.weights == "none" else ("imagenet" if args.weights == "imagenet" else None)
    keras.utils.set_random_seed(1)
    model = cls(weights=weights, **kwargs)
    if args.weights not in ("none", "imagenet"):
        model.load_weights(args.weights)
    export(model, args)


def export(model, args):
    archive = keras.export.ExportArchive()
    archive.track(model)
    spec = tf.TensorSpec([None, args.size, args.size, 3], tf.float32, name="images")
    archive.add_endpoint("serving_default", lambda images: {"features": model(images, training=False)},
                         input_signature=[spec])
    archive.write_out(args.out, verbose=False)
    if args.check:
        yy, xx = np.mgrid[0:args.size, 0:args.size]
        img = np.stack([np.sin(xx * 0.1 + k) * np.cos(yy * 0.07) for k in range(3)], -1)[None].astype(np.float32)
        loaded = tf.saved_model.load(args.out)
        feats = loaded.signatures["serving_default"](images=tf.constant(img))["features"]
        with open(args.check, "w") as f:
            json.dump({"image": img.ravel().tolist(), "features": feats.numpy().ravel().tolist()}, f)
    print(f"exported {args.model} (weights={args.weights}, {args.size}x{args.size}) to {args.out}")


if __name__ == "__main__":
    main()
