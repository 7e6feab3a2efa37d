#!/usr/bin/env python3
"""Keras peer of `host train-catsdogs`: the book's cats-vs-dogs convnet from scratch, same folders.

Reads `<subset>/train` and `<subset>/validation` (the folders `host make-subset` writes) with
`keras.utils.image_dataset_from_directory` at 180x180, batch 32, and trains the book's 5-block
convnet (Rescaling 1/255, Conv2D 32/64/128/256/256 3x3 relu with 2x2 max pools, Flatten,
Dense(1, sigmoid); rmsprop, binary cross-entropy). Prints the seconds per epoch as
`keras epoch N: S s`.

    pip install tensorflow-cpu
    python3 host/bench/keras_catsdogs.py --subset cats_vs_dogs_small --epochs 1
"""
import argparse
import os

from keras_timer import epoch_timer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--subset", default="cats_vs_dogs_small")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--image-size", type=int, default=180)
    args = ap.parse_args()

    import keras
    from keras import layers

    size = (args.image_size, args.image_size)
    train = keras.utils.image_dataset_from_directory(
        os.path.join(args.subset, "train"), image_size=size, batch_size=32)
    val = keras.utils.image_dataset_from_directory(
        os.path.join(args.subset, "validation"), image_size=size, batch_size=32)
    # Decode once, as tinyconv does before its first epoch: the epochs time training only.
    train, val = train.cache(), val.cache()
    for _ in train:
        pass
    for _ in val:
        pass

    inputs = keras.Input(shape=size + (3,))
    x = layers.Rescaling(1.0 / 255)(inputs)
    for filters in (32, 64, 128, 256):
        x = layers.Conv2D(filters=filters, kernel_size=3, activation="relu")(x)
        x = layers.MaxPooling2D(pool_size=2)(x)
    x = layers.Conv2D(filters=256, kernel_size=3, activation="relu")(x)
    x = layers.Flatten()(x)
    outputs = layers.Dense(1, activation="sigmoid")(x)
    model = keras.Model(inputs=inputs, outputs=outputs)
    model.compile(optimizer="rmsprop", loss="binary_crossentropy", metrics=["accuracy"])

    model.fit(train, validation_data=val, epochs=args.epochs, callbacks=[epoch_timer(keras)], verbose=2)


if __name__ == "__main__":
    main()
