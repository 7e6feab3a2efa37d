"""The epoch timer the Keras peers share: prints `keras epoch N: S s`, which
`side_by_side.py` reads."""
import time


def epoch_timer(keras):
    """A callback (of the given, already imported `keras`) printing each epoch's seconds."""

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            print(f"keras epoch {epoch + 1}: {time.perf_counter() - self.t:.1f} s", flush=True)

    return Timer()
