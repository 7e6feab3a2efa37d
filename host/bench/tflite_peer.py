#!/usr/bin/env python3
"""tinyconv's int8 quantizer next to TensorFlow Lite's full-integer converter, same weights.

A non-MNIST-convnet architecture (conv 16 same relu, maxpool 2, conv 32 stride 2 same relu,
avgpool 2, flatten, dense 10 softmax) is trained by tinyconv and quantized by both tools with
the same 1000 calibration images; this prints per layer the output scale / zero point and the
per-channel weight scales of each, how many int8 weight codes and int32 bias codes differ, and
the test accuracies. tinyconv's exact values are read from its blob (not the rounded table).

    pip install tensorflow-cpu safetensors
    python3 host/bench/tflite_peer.py --write-arch          # writes /tmp/tflite_peer/arch.json
    D=/work/shared/data/mnist; I="--train-images $D/train-images-idx3-ubyte.gz \\
      --train-labels $D/train-labels-idx1-ubyte.gz --test-images $D/t10k-images-idx3-ubyte.gz \\
      --test-labels $D/t10k-labels-idx1-ubyte.gz"
    target/release/host fit --arch /tmp/tflite_peer/arch.json $I --epochs 1 \\
      --output /tmp/tflite_peer/run
    target/release/host quantize --model /tmp/tflite_peer/run/model $I --calibration 1000 \\
      --output /tmp/tflite_peer/tc/ --predictions
    python3 host/bench/tflite_peer.py

TFLite runs with int8 input and output (inference_input_type/output = tf.int8); the input is
quantized with the interpreter's own input parameters (here `pixel - 128`).
"""
import argparse
import gzip
import json
import os
import struct

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def arch():
    import keras
    from keras import layers
    return keras.Sequential([
        keras.Input((28, 28, 1)),
        layers.Conv2D(16, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(2),
        layers.Conv2D(32, 3, strides=2, padding="same", activation="relu"),
        layers.AveragePooling2D(2),
        layers.Flatten(),
        layers.Dense(10, activation="softmax"),
    ])


def read_safetensors(path):
    b = open(path, "rb").read()
    n, = struct.unpack("<Q", b[:8])
    header = json.loads(b[8:8 + n])
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        assert t["dtype"] == "F32", t
        s, e = t["data_offsets"]
        out[name] = np.frombuffer(b[8 + n + s:8 + n + e], "<f4").reshape(t["shape"])
    return out


class Postcard:
    """Just enough of postcard to read a tinyconv blob (shared/src/blob/format.rs)."""

    def __init__(self, b):
        self.b, self.i = b, 0

    def uv(self):
        v = s = 0
        while True:
            c = self.b[self.i]
            self.i += 1
            v |= (c & 0x7F) << s
            s += 7
            if c < 0x80:
                return v

    def iv(self):
        v = self.uv()
        return (v >> 1) ^ -(v & 1)

    def f32(self):
        v, = struct.unpack("<f", self.b[self.i:self.i + 4])
        self.i += 4
        return v

    def bytes(self):
        n = self.uv()
        self.i += n
        return self.b[self.i - n:self.i]

    def shape(self):
        return (self.uv(), self.uv(), self.uv())

    def quant(self):
        return (self.f32(), self.iv())


def read_blob(path):
    """[(kind, output (scale, zp), weight_scales f32[], int8 weights, int32 bias)] per layer."""
    b = open(path, "rb").read()
    assert b[:4] == b"TCNV" and struct.unpack("<H", b[4:6])[0] == 2
    p = Postcard(b[14:])
    assert p.uv() == 2  # WeightFormat::Int8
    p.shape()
    input_quant = p.quant() if p.uv() else None
    count = p.uv()
    if p.uv() == 1:  # PixelScaling::Rescale
        p.f32(), p.f32()
    layers = []
    for _ in range(count):
        kind = p.uv()
        # Conv2d(kernel, stride, padding, filters, act), Max/AvgPool(pool, stride, padding),
        # Flatten, Dense(units, act), Relu
        for _ in range({0: 5, 1: 3, 2: 3, 3: 0, 4: 2, 5: 0}[kind]):
            p.uv()
        p.shape(), p.shape()
        w = np.frombuffer(p.bytes(), np.int8)
        bias = np.frombuffer(p.bytes(), "<i4")
        assert p.uv() == 1
        out = p.quant()
        ws = np.frombuffer(p.bytes(), "<f4")
        p.bytes(), p.bytes()
        layers.append((["CONV_2D", "MAX_POOL_2D", "AVERAGE_POOL_2D", "FLATTEN",
                         "FULLY_CONNECTED", "RELU"][kind], out, ws, w, bias))
    return input_quant, layers


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dir", default="/tmp/tflite_peer", help="arch.json, run/, tc/ live here")
    ap.add_argument("--data-dir", default="/work/shared/data/mnist")
    ap.add_argument("--write-arch", action="store_true", help="write arch.json and exit")
    args = ap.parse_args()
    import tensorflow as tf
    import keras
    if args.write_arch:
        os.makedirs(args.dir, exist_ok=True)
        open(os.path.join(args.dir, "arch.json"), "w").write(arch().to_json())
        return
    print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}")
    d = args.data_dir
    train = read_idx(f"{d}/train-images-idx3-ubyte.gz").reshape(-1, 28, 28, 1)
    test = read_idx(f"{d}/t10k-images-idx3-ubyte.gz").reshape(-1, 28, 28, 1)
    labels = read_idx(f"{d}/t10k-labels-idx1-ubyte.gz").astype(np.int64)
    inv255 = np.float32(1.0 / 255.0)
    calib = train[[i * len(train) // 1000 for i in range(1000)]].astype(np.float32) * inv255

    model = keras.models.model_from_json(open(os.path.join(args.dir, "arch.json")).read())
    w = read_safetensors(os.path.join(args.dir, "run/model/model.safetensors"))
    for layer in model.layers:
        if layer.weights:
            layer.set_weights([w[f"{layer.name}.kernel"], w[f"{layer.name}.bias"]])
    x_test = test.astype(np.float32) * inv255
    float_pred = model.predict(x_test, batch_size=500, verbose=0).argmax(1)
    report = json.load(open(os.path.join(args.dir, "run/report.json")))
    manifest = json.load(open(os.path.join(args.dir, "tc/model_int8.json")))

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([calib[i:i + 1]] for i in range(len(calib)))
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    tfl = conv.convert()
    open(os.path.join(args.dir, "model_int8.tflite"), "wb").write(tfl)
    it = tf.lite.Interpreter(  # builtin kernels, no XNNPACK; keep the logits tensor readable
        model_content=tfl, experimental_preserve_all_tensors=True,
        experimental_op_resolver_type=tf.lite.experimental.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    it.allocate_tensors()
    tensors = {t["index"]: t for t in it.get_tensor_details()}
    all_ops = it._get_ops_details()
    shape_ops = ("QUANTIZE", "DEQUANTIZE", "SHAPE", "STRIDED_SLICE", "PACK")  # int32 plumbing
    ops = [o for o in all_ops if o["op_name"] not in shape_ops]

    def qp(i):
        q = tensors[i]["quantization_parameters"]
        return q["scales"], q["zero_points"]

    tc_in, tc_layers = read_blob(os.path.join(args.dir, "tc/model_int8.blob"))
    inp = it.get_input_details()[0]
    s_in, z_in = inp["quantization"]
    print(f"input: tinyconv {tc_in[0]!r} / {tc_in[1]}, TFLite {np.float32(s_in)!r} / {z_in}")
    print("TFLite ops:", " ".join(o["op_name"] for o in all_ops))
    print(f"\n{'layer':<16}{'tinyconv scale/zp':>22}{'TFLite scale/zp':>22}{'rel diff':>10}"
          f"  {'tinyconv w-scale min..max':>25}  {'TFLite w-scale min..max':>23}"
          f"{'w max rel':>10}{'w codes':>9}{'b codes':>9}")
    tc_iter = iter(tc_layers)
    logits_index = None
    for o in ops:
        if o["op_name"] == "SOFTMAX":
            s, z = qp(o["outputs"][0])
            print(f"{'SOFTMAX':<16}{'(int8 logits)':>22}{f'{s[0]:.6g} / {z[0]}':>22}")
            continue
        kind, (ts, tz), tws, tw, tb = next(tc_iter)
        if o["op_name"] == "RESHAPE":
            assert kind == "FLATTEN"
        else:
            assert kind == o["op_name"], (kind, o["op_name"])
        s, z = qp(o["outputs"][0])
        s, z = np.float32(s[0]), int(z[0])
        rel = abs(float(s) - ts) / ts
        row = (f"{kind.lower():<16}{f'{ts:.8g} / {tz}':>22}{f'{s:.8g} / {z}':>22}"
               f"{'exact' if (s == np.float32(ts) and z == tz) else f'{rel:.2e}':>10}")
        if len(tws):
            ws, _ = qp(o["inputs"][1])
            ws = ws.astype(np.float32)
            wq = it.get_tensor(o["inputs"][1]).reshape(-1)
            bq = it.get_tensor(o["inputs"][2]).reshape(-1)
            wrel = np.max(np.abs(ws - tws) / tws)
            row += (f"  {f'{tws.min():.6g}..{tws.max():.6g}':>25}"
                    f"  {f'{ws.min():.6g}..{ws.max():.6g}':>23}"
                    f"{'exact' if np.array_equal(ws, tws) else f'{wrel:.1e}':>10}"
                    f"{f'{np.sum(wq != tw)}/{tw.size}':>9}{f'{np.sum(bq != tb)}/{tb.size}':>9}")
            if kind == "FULLY_CONNECTED":
                logits_index = o["outputs"][0]
        print(row)

    q_test = np.clip(np.round(x_test / np.float32(s_in)) + z_in, -128, 127).astype(np.int8)
    print(f"\nTFLite input codes == pixel - 128 for every test pixel: "
          f"{np.array_equal(q_test.astype(np.int16), test.astype(np.int16) - 128)}")
    sm_pred, lg_pred = np.empty(len(test), np.int64), np.empty(len(test), np.int64)
    logits = np.empty((len(test), 10), np.int8)
    out_index = it.get_output_details()[0]["index"]
    for i in range(len(test)):
        it.set_tensor(inp["index"], q_test[i:i + 1])
        it.invoke()
        sm_pred[i] = it.get_tensor(out_index).argmax()
        logits[i] = it.get_tensor(logits_index).reshape(-1)
        lg_pred[i] = logits[i].argmax()
    acc = lambda p: 100.0 * np.mean(p == labels)
    print(f"\naccuracy on {len(test)} test images:")
    print(f"  float, Keras (tinyconv's weights)    {acc(float_pred):.2f} %")
    print(f"  float, tinyconv (fit report)         {100 * report['test_accuracy']:.2f} %"
          f"  (quantize manifest: {100 * manifest['accuracy']['float_model']:.2f} %)")
    print(f"  int8, tinyconv blob                  {100 * manifest['accuracy']['blob']:.2f} %"
          f"  (top-1 agreement with float {100 * manifest['accuracy']['agreement_with_float']:.2f} %)")
    print(f"  int8, TFLite (argmax int8 logits)    {acc(lg_pred):.2f} %"
          f"  (top-1 agreement with Keras float {100 * np.mean(lg_pred == float_pred):.2f} %)")
    print(f"  int8, TFLite (argmax int8 softmax)   {acc(sm_pred):.2f} %"
          f"  (top-1 agreement with Keras float {100 * np.mean(sm_pred == float_pred):.2f} %)")

    # Image by image, from `host quantize --predictions` (tc/model_int8_predictions.csv).
    csv = os.path.join(args.dir, "tc/model_int8_predictions.csv")
    if os.path.exists(csv):
        rows = np.loadtxt(csv, delimiter=",", skiprows=1, dtype=np.int64)
        tc_class, tc_logits = rows[:, 2], rows[:, 3:].astype(np.int8)
        n = min(len(rows), len(test))
        diff = np.abs(tc_logits[:n].astype(np.int16) - logits[:n].astype(np.int16))
        print(f"\nimage by image ({n} test images, tinyconv's int8 interpreter vs TFLite):")
        print(f"  same class (argmax of int8 logits)   {np.sum(tc_class[:n] == lg_pred[:n])}")
        print(f"  all 10 int8 logits equal             {np.sum(diff.max(axis=1) == 0)}")
        print(f"  largest logit difference (codes)     {diff.max()}  "
              f"(logits differing: {np.sum(diff > 0)} of {diff.size})")
    else:
        print(f"\n(no {csv}: rerun `host quantize` with --predictions for the image-by-image check)")


if __name__ == "__main__":
    main()
