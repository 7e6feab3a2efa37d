#!/usr/bin/env python3
"""tinyconv's CPU backend and the Keras/TensorFlow-CPU peers, side by side, in one run.

Alternates the two tools `--rounds` times on each benchmark and prints every figure and the
ratio of the medians (tinyconv time / Keras time; below 1 means tinyconv is faster):

- MNIST: the book's convnet, 1 epoch, batch 64 (`host train --epochs 1` / `keras_mnist.py`);
- cats vs dogs from scratch: 180x180, batch 32, 1 epoch on a `make-subset` folder
  (`host train-catsdogs --epochs 1` / `keras_catsdogs.py`);
- VGG16 conv base forward: 180x180, batch 32, images/s (`host bench --vgg16` / `keras_vgg16.py`).

Without TensorFlow the Keras side is skipped with a message and tinyconv's figures are printed.

    cargo build -p host
    TINYCONV_DATA_DIR=../shared/data python3 host/bench/side_by_side.py
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def run(cmd, pattern=None, env=None):
    """Runs `cmd` and returns the float of `pattern`'s first group in its output (None without
    a pattern); exits with its output when it fails or the pattern is missing."""
    print("$ " + " ".join(cmd), flush=True)
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    text = out.stdout + out.stderr
    m = re.search(pattern, text) if pattern else None
    if out.returncode != 0 or (pattern and not m):
        sys.exit(f"error: `{' '.join(cmd)}` failed (exit {out.returncode}):\n{text[-3000:]}")
    if not pattern:
        return None
    value = float(m.group(1))
    print(f"  -> {value}", flush=True)
    return value


def have_tensorflow():
    probe = subprocess.run([sys.executable, "-c", "import tensorflow, keras"], capture_output=True)
    return probe.returncode == 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default=os.path.join(ROOT, "target", "debug", "host"),
                    help="the host binary (default: target/debug/host; `cargo build -p host`)")
    ap.add_argument("--data-dir", default=os.environ.get("TINYCONV_DATA_DIR", "../shared/data"))
    ap.add_argument("--rounds", type=int, default=2, help="alternating runs of each tool")
    ap.add_argument("--subset", help="cats-vs-dogs subset folder (default: made in a temp dir)")
    ap.add_argument("--only", choices=["mnist", "catsdogs", "vgg16"], action="append",
                    help="run only these benchmarks (repeatable)")
    args = ap.parse_args()
    data = os.path.abspath(args.data_dir)
    if not os.path.exists(args.host):
        sys.exit(f"error: {args.host} not found: run `cargo build -p host` first")
    env = dict(os.environ, TINYCONV_DATA_DIR=data)
    keras = have_tensorflow()
    if not keras:
        print("Keras peer skipped: TensorFlow is not installed (pip install tensorflow-cpu)")
    py = sys.executable
    tmp = tempfile.mkdtemp(prefix="tinyconv-bench-")
    only = set(args.only or ["mnist", "catsdogs", "vgg16"])
    rows = []
    try:
        if "mnist" in only:
            ours, theirs = [], []
            for _ in range(args.rounds):
                ours.append(run([args.host, "train", "--backend", "cpu", "--epochs", "1",
                                 "--output", os.path.join(tmp, "mnist")],
                                r"Epoch 1/1 - \d+ steps - ([\d.]+)s", env))
                if keras:
                    theirs.append(run([py, os.path.join(HERE, "keras_mnist.py"), "--epochs", "1"],
                                      r"keras epoch 1: ([\d.]+) s", env))
            rows.append(("MNIST, 1 epoch, batch 64 (s)", ours, theirs, False))
        if "catsdogs" in only:
            subset = args.subset
            if not subset:
                subset = os.path.join(tmp, "subset")
                run([args.host, "make-subset", "--src",
                     os.path.join(data, "cats-vs-dogs-photos", "train"), "--dst", subset,
                     "--train", "0..1000", "--validation", "1000..1500", "--test", "1500..2000"],
                    env=env)
            ours, theirs = [], []
            for _ in range(args.rounds):
                ours.append(run([args.host, "train-catsdogs", "--backend", "cpu", "--epochs", "1",
                                 "--data-dir", subset, "--output", os.path.join(tmp, "cd")],
                                r"Epoch 1/1 - \d+ steps - ([\d.]+)s", env))
                if keras:
                    theirs.append(run([py, os.path.join(HERE, "keras_catsdogs.py"),
                                       "--subset", subset, "--epochs", "1"],
                                      r"keras epoch 1: ([\d.]+) s", env))
            rows.append(("cats vs dogs, 180x180, 1 epoch, batch 32 (s)", ours, theirs, False))
        if "vgg16" in only:
            ours, theirs = [], []
            for _ in range(args.rounds):
                ours.append(run([args.host, "bench", "--vgg16", "--backend", "cpu",
                                 "--vgg16-batches", "2"], r"([\d.]+) images/s", env))
                if keras:
                    theirs.append(run([py, os.path.join(HERE, "keras_vgg16.py"), "--batches", "2"],
                                      r"keras vgg16: ([\d.]+) images/s", env))
            rows.append(("VGG16 base forward, 180x180, batch 32 (images/s)", ours, theirs, True))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print()
    print(f"{'benchmark':52} {'tinyconv':>18} {'Keras':>18} {'time ratio':>10}")
    for name, ours, theirs, rate in rows:
        fmt = lambda xs: " / ".join(f"{x:.1f}" for x in xs)
        if theirs:
            a, b = statistics.median(ours), statistics.median(theirs)
            ratio = f"{(b / a if rate else a / b):.2f}x"
        else:
            ratio = "-"
        print(f"{name:52} {fmt(ours):>18} {fmt(theirs) or 'skipped':>18} {ratio:>10}")
    print("time ratio: tinyconv's time over Keras's (medians); below 1 means tinyconv is faster")


if __name__ == "__main__":
    main()
