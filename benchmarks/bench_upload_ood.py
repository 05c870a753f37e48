"""Uploads that are not digits, and photos of digits that are: how the Upload page judges each.

Runs the page's own pipeline on generated pictures (benchmarks/upload_images.py): preprocessing
(``preprocess.preprocess_bytes``), encoding with a shipped checkpoint (the app's default unless told), and the novelty verdict
(``novelty.judge``, against the MNIST training codes, calibrated on the test codes). Prints, per
category, the share of non-digits refused or flagged "unlike the training data", and the share of
digit photos accepted without that flag. Thresholds were tuned on seed 0; report another seed.

    python -m benchmarks.bench_upload_ood --seed 1
"""
from __future__ import annotations

import argparse
import collections
import time

import numpy as np

from benchmarks.upload_images import NON_DIGIT_CATEGORIES, Upload, digit_photos, non_digits
from explorer import metrics, novelty, preprocess
from explorer.engine import InferenceEngine
from explorer.data import load_mnist
from explorer.shipped import DEFAULT_CHECKPOINT, SHIPPED_DIR
from explorer.sources import open_model


def outcomes(uploads: list[Upload], engine: InferenceEngine, reference: novelty.Reference) -> list[str]:
    """Per upload: "refused: <why>" from preprocessing, or the verdict's label."""
    prepared, results = [], []
    for upload in uploads:
        try:
            image = preprocess.preprocess_bytes(upload.data).image
        except preprocess.ImageError as e:
            results.append("refused: " + str(e).split(" (")[0].split(":")[0])
            continue
        prepared.append((len(results), image[None]))
        results.append("")
    if prepared:
        x = np.stack([image for _, image in prepared])
        codes = engine.encode(x)
        errors = metrics.per_sample_mse(x, engine.reconstruct(x))
        for (at, _), code, error in zip(prepared, codes, errors):
            results[at] = novelty.judge(reference, code, float(error)).label
    return results


def rejected(outcome: str) -> bool:
    return outcome.startswith("refused") or outcome == "unlike the training data"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--per-category", type=int, default=60, help="non-digit pictures per category")
    parser.add_argument("--digits", type=int, default=300, help="digit photos")
    parser.add_argument("--checkpoint", default=str(SHIPPED_DIR / DEFAULT_CHECKPOINT))
    args = parser.parse_args()

    start = time.perf_counter()
    engine = InferenceEngine(open_model(args.checkpoint), device="cpu")
    dataset = load_mnist()
    codes = engine.encode_dataset(dataset)
    reference = novelty.reference_from(codes.codes, codes.errors, dataset.train_idx, dataset.test_idx)
    others = non_digits(args.per_category, args.seed)
    digits = digit_photos(args.digits, args.seed)
    other_outcomes = outcomes(others, engine, reference)
    digit_outcomes = outcomes(digits, engine, reference)

    print(f"{args.checkpoint}, seed {args.seed}: {len(others)} non-digits, {len(digits)} digit photos")
    print(f"{'non-digits':12s} {'refused':>8s} {'flagged':>8s} {'caught':>8s}")
    for category in NON_DIGIT_CATEGORIES:
        mine = [o for u, o in zip(others, other_outcomes) if u.category == category]
        refused = np.mean([o.startswith("refused") for o in mine])
        flagged = np.mean([o == "unlike the training data" for o in mine])
        print(f"{category:12s} {refused:8.1%} {flagged:8.1%} {refused + flagged:8.1%}")
    print(f"{'all':12s} {'':8s} {'':8s} {np.mean([rejected(o) for o in other_outcomes]):8.1%}")
    verdicts = collections.Counter(digit_outcomes)
    accepted = np.mean([not rejected(o) for o in digit_outcomes])
    print(f"digit photos accepted and not flagged: {accepted:.1%} "
          f"(typical {verdicts['typical'] / len(digits):.1%}, unusual {verdicts['unusual'] / len(digits):.1%})")
    print("how non-digits were stopped:")
    for outcome, count in collections.Counter(o for o in other_outcomes if rejected(o)).most_common():
        print(f"  {count:4d}  {outcome}")
    through = collections.Counter(o for o in other_outcomes if not rejected(o))
    print("non-digits let through: " + (", ".join(f"{n} {o}" for o, n in through.most_common()) or "none"))
    lost = collections.Counter(o for o in digit_outcomes if rejected(o))
    if lost:
        print("digit photos lost:")
        for outcome, count in lost.most_common():
            print(f"  {count:4d}  {outcome}")
    print(f"{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
