#!/usr/bin/env bash
# Runs every fuzz target for RUNS executions (default 1,000,000) from seed corpora made here:
# the committed MNIST int8 blob, a small IDX file, and a small saved model.
#   cargo install cargo-fuzz && RUSTC_BOOTSTRAP=1 fuzz/run.sh [RUNS]
# cargo-fuzz needs nightly flags (-Z ...); RUSTC_BOOTSTRAP=1 lets stable 1.95 take them. The code
# under test has no unsafe on the host, so the targets run without a sanitizer (-s none), for speed,
# but optimised with debug assertions (-O -a): an arithmetic overflow is a crash, as on a dev build.
set -euo pipefail
cd "$(dirname "$0")"
RUNS="${1:-1000000}"
export RUSTC_BOOTSTRAP=1
mkdir -p corpus/blob corpus/idx corpus/model_file
cp ../firmware/model/mnist_int8.blob corpus/blob/mnist_int8.blob
# Blobs the tests wrote (the synthetic MNIST one, the second architecture, f32/f16 float blobs of
# tests/tests/float_blobs.rs), if present.
cp ../firmware/target/tinyconv-tests/*.blob corpus/blob/ 2>/dev/null || true
python3 - <<'PY'
import json, struct
# IDX: 3 images of 2x2 ubyte, and 3 labels.
open("corpus/idx/images", "wb").write(bytes([0, 0, 8, 3]) + struct.pack(">III", 3, 2, 2) + bytes(range(12)))
open("corpus/idx/labels", "wb").write(bytes([0, 0, 8, 1]) + struct.pack(">I", 3) + bytes([0, 1, 2]))
# A saved model: Dense(2, softmax) on 3 inputs; 2-byte JSON length, model.json, safetensors.
arch = {"format": "tinyconv-sequential", "version": 1, "input_shape": [3], "layers": [
    {"name": "dense", "trainable": True, "class_name": "Dense",
     "config": {"units": 2, "activation": "softmax", "use_bias": True}}]}
text = json.dumps(arch).encode()
kernel, bias = struct.pack("<6f", *range(6)), struct.pack("<2f", 0.5, -0.5)
header = json.dumps({
    "dense.bias": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
    "dense.kernel": {"dtype": "F32", "shape": [3, 2], "data_offsets": [8, 32]},
}).encode()
st = struct.pack("<Q", len(header)) + header + bias + kernel
open("corpus/model_file/dense", "wb").write(struct.pack("<H", len(text)) + text + st)
PY
for target in blob idx model_file; do
    echo "== $target: $RUNS runs"
    cargo fuzz run -O -a -s none "$target" "corpus/$target" -- -runs="$RUNS" -max_len=131072 -rss_limit_mb=4096 2>&1 \
        | grep -E "^#[0-9]+ +DONE|Done [0-9]+ runs|ERROR|panicked|SUMMARY" || true
done
