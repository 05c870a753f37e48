"""Markdown table of representation quality: every shipped MNIST checkpoint, PCA at each size, pixels.

    flock /tmp/heavy.lock .venv/bin/python benchmarks/quality_table.py
Figures are on the held-out split (seeded) and cached with the encodings, so a rerun is quick.
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from explorer import checkpoint, quality  # noqa: E402
from explorer.engine import InferenceEngine  # noqa: E402
from explorer.data import load_mnist  # noqa: E402
from explorer.sweep import read_summary  # noqa: E402

COLUMNS = ("knn_accuracy", "probe_10", "probe_100", "probe_all", "nmi", "ari")
HEADER = ("5-NN acc.", "probe 10/class", "probe 100/class", "probe all", "NMI", "ARI")


def shipped_folders() -> list[Path]:
    folders = sorted(p for p in (ROOT / "checkpoints").iterdir() if (p / checkpoint.CONFIG_NAME).exists())
    sweep = ROOT / "checkpoints" / "sweep"
    summary = read_summary(sweep) or {"families": {}}
    for family in summary["families"].values():
        folders += [sweep / p["checkpoint"] for p in family["points"]]
    return folders


def row(name: str, size: int | str, figures: quality.RepresentationQuality) -> str:
    values = figures.as_dict()
    return f"| {name} | {size} | " + " | ".join(f"{values[c]:.3f}" for c in COLUMNS) + " |"


def main() -> None:
    dataset = load_mnist()
    print("| model | code size | " + " | ".join(HEADER) + " |")
    print("|---|---|" + "---|" * len(HEADER))
    sizes = set()
    for folder in shipped_folders():
        ckpt = checkpoint.load(folder)
        if ckpt.config.get("dataset", {}).get("name") != "mnist":
            continue
        codes = InferenceEngine(ckpt).encode_dataset(dataset).codes
        sizes.add(ckpt.model.latent_dim)
        name = folder.name if folder.parent.name != "sweep" else f"sweep/{folder.name}"
        print(row(name, ckpt.model.latent_dim, quality.model_quality(ckpt.content_hash, dataset, codes)), flush=True)
    for size in sorted(sizes):
        print(row("PCA", size, quality.pca_quality(dataset, size)), flush=True)
    print(row("raw pixels", 784, quality.pixel_quality(dataset)))


if __name__ == "__main__":
    main()
