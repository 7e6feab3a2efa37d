#!/usr/bin/env python3
"""Keras peer of `cargo run -p host -- train`: the book's MNIST convnet, same data, same schedule.

Reads the MNIST IDX files (gzip'd) from $TINYCONV_DATA_DIR/mnist (no download), trains with
RMSprop, batch 64, inputs /255, and prints the seconds per epoch and the test accuracy, so the
two can be timed side by side on one machine:

    pip install tensorflow-cpu
    TINYCONV_DATA_DIR=../shared/data python3 host/bench/keras_mnist.py --epochs 1
    TINYCONV_DATA_DIR=../shared/data cargo run -p host -- train --backend cpu --epochs 1
"""
import argparse
import gzip
import os
import struct

import numpy as np

from keras_timer import epoch_timer


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic, = struct.unpack(">I", data[:4])
    ndim = magic & 0xFF
    dims = struct.unpack(">" + "I" * ndim, data[4 : 4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--data-dir", default=os.environ.get("TINYCONV_DATA_DIR", "../shared/data"))
    args = ap.parse_args()
    d = os.path.join(args.data_dir, "mnist")
    x_train = read_idx(os.path.join(d, "train-images-idx3-ubyte.gz")).reshape(-1, 28, 28, 1)
    y_train = read_idx(os.path.join(d, "train-labels-idx1-ubyte.gz"))
    x_test = read_idx(os.path.join(d, "t10k-images-idx3-ubyte.gz")).reshape(-1, 28, 28, 1)
    y_test = read_idx(os.path.join(d, "t10k-labels-idx1-ubyte.gz"))
    x_train = x_train.astype("float32") / 255
    x_test = x_test.astype("float32") / 255

    import keras
    from keras import layers

    inputs = keras.Input(shape=(28, 28, 1))
    x = layers.Conv2D(filters=32, kernel_size=3, activation="relu")(inputs)
    x = layers.MaxPooling2D(pool_size=2)(x)
    x = layers.Conv2D(filters=64, kernel_size=3, activation="relu")(x)
    x = layers.MaxPooling2D(pool_size=2)(x)
    x = layers.Conv2D(filters=128, kernel_size=3, activation="relu")(x)
    x = layers.Flatten()(x)
    outputs = layers.Dense(10, activation="softmax")(x)
    model = keras.Model(inputs=inputs, outputs=outputs)
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy", metrics=["accuracy"])

    model.fit(x_train, y_train, epochs=args.epochs, batch_size=64, callbacks=[epoch_timer(keras)], verbose=2)
    loss, acc = model.evaluate(x_test, y_test, verbose=0)
    print(f"Test accuracy: {acc:.4f}")


if __name__ == "__main__":
    main()
