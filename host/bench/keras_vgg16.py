#!/usr/bin/env python3
"""Keras peer of `host bench --vgg16`: images/s of `conv_base.predict` through the VGG16 base.

`keras.applications.vgg16.VGG16(weights=None, include_top=False)` at 180x180 (the weights do not
change the time), batch 32: one warm-up batch, then `--batches` timed batches. Prints
`keras vgg16: R images/s`.

    pip install tensorflow-cpu
    python3 host/bench/keras_vgg16.py --batches 3
"""
import argparse
import time

import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batches", type=int, default=3)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--image-size", type=int, default=180)
    args = ap.parse_args()

    import keras

    s = args.image_size
    base = keras.applications.vgg16.VGG16(weights=None, include_top=False, input_shape=(s, s, 3))
    x = np.random.default_rng(0).uniform(-120, 150, (args.batch, s, s, 3)).astype("float32")
    base.predict(x, batch_size=args.batch, verbose=0)
    t = time.perf_counter()
    for _ in range(args.batches):
        base.predict(x, batch_size=args.batch, verbose=0)
    dt = time.perf_counter() - t
    print(f"keras vgg16: {args.batches * args.batch / dt:.2f} images/s", flush=True)


if __name__ == "__main__":
    main()
