"""Compare's "Representation quality" view for the shapes models: the first visit (empty cache)
and the second (figures read back), timed around the function the view calls.

    flock /tmp/heavy.lock .venv/bin/python -m benchmarks.bench_representation
    flock /tmp/heavy.lock .venv/bin/python -m benchmarks.bench_representation --models shapes-vae shapes-beta-vae

The dataset is loaded and the models opened before the clock starts (the sidebar has done both
by the time the view runs); everything else starts from an empty cache: encoding the sampled
images, PCA's fit, every figure of every row. Raw pixels of large images are measured when the
view's button asks for them, and timed apart here. Target: first visit <= 20 s on 2 cores.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time

os.environ["LATENT_EXPLORER_CACHE"] = tempfile.mkdtemp(prefix="bench-representation-")  # before explorer

import numpy as np  # noqa: E402

from explorer import quality  # noqa: E402
from explorer.data import load_dataset  # noqa: E402
from explorer.engine import InferenceEngine  # noqa: E402
from explorer.shipped import SHIPPED_DIR  # noqa: E402
from explorer.sources import open_model  # noqa: E402

MODELS = ("shapes-vae", "shapes-beta-vae", "shapes-beta-tcvae")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=list(MODELS))
    p.add_argument("--dataset", default="shapes")
    args = p.parse_args()

    dataset = load_dataset(args.dataset)
    dataset.identity  # noqa: B018 (hashed once, as the sidebar's cache does before any page runs)
    engines = [InferenceEngine(open_model(SHIPPED_DIR / name)) for name in args.models]
    models = [(e.source.name, e.latent_dim, e.source.content_hash, lambda idx, e=e: e.encode(dataset.x[idx]))
              for e in engines]
    train, test = quality.quality_splits(dataset)
    print(f"{args.dataset}: {len(dataset.x):,} images {dataset.input_shape}; figures on a sample of {len(train):,} "
          f"training and {len(test):,} test images; {len(models)} models: {', '.join(args.models)}")
    pixels = not quality.pixels_on_request(dataset)  # the view's rule: large images' pixels when asked for
    for visit in ("first visit (empty cache)", "second visit (cached)"):
        start = time.perf_counter()
        rows = quality.comparison_rows(models, dataset, pixels)
        print(f"{visit}: {time.perf_counter() - start:.2f} s ({len(rows)} rows"
              f"{'' if pixels else '; raw pixels on request'})", flush=True)
    if not pixels:
        start = time.perf_counter()
        rows = quality.comparison_rows(models, dataset, True)
        print(f"'Measure raw pixels' clicked ({int(np.prod(dataset.input_shape)):,} values per image): "
              f"{time.perf_counter() - start:.2f} s", flush=True)
    for row in rows:
        print(f"  {row['representation']:<22} " + "  ".join(f"{k} {v:.3f}" for k, v in row.items()
                                                         if k not in ("representation", "code size")))
    for engine in engines:
        engine.close()


if __name__ == "__main__":
    main()
