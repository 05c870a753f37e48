"""Command line: python -m explorer train | evaluate | encode | info | export | sweep."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from . import checkpoint as ckpt
from .data import Dataset, DatasetError, load_dataset
from .dataset_spec import for_model
from .disentangle import METRICS
from .engine import InferenceEngine
from .models import MODEL_TYPES
from .models.base import BODIES, RECON_LOSSES
from .sources import as_model, check_fits, open_model
from .sources.export import export_onnx


def parse_list(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v.strip()]


def cmd_train(args: argparse.Namespace) -> None:
    from .train import TrainConfig, evaluate, train

    if args.threads:
        torch.set_num_threads(args.threads)
    dataset = load_dataset(args.dataset, size=args.image_size, channels=args.image_channels,
                           preprocessing=args.preprocessing)
    model_args: dict = {"latent_dim": args.latent_dim}
    for key in ("body", "recon_loss", "sparsity", "noise"):
        if getattr(args, key) is not None:
            model_args[key] = getattr(args, key)
    for key in ("sparsity_weight", "rho", "noise_level", "contraction_weight", "beta", "tc_weight",
                "conv_hidden"):
        if getattr(args, key) is not None:
            model_args[key] = getattr(args, key)
    if args.hidden:
        model_args["hidden"] = parse_list(args.hidden)
    if args.channels:
        model_args["channels"] = parse_list(args.channels)
    cfg = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                      exclude_class=args.exclude_class, kl_warmup=args.kl_warmup, shift=args.shift,
                      weight_decay=args.weight_decay, device=args.device)
    model, record = train(args.model, model_args, dataset, cfg)
    record.update(evaluate(model, dataset, exclude_class=args.exclude_class))
    name = args.name or Path(args.out).name
    out = ckpt.save(model, args.out, {"name": name, "dataset": dataset.describe(), "training": record})
    print(f"saved {out}")
    print_metrics(record)
    print_disentanglement(record)


def print_metrics(m: dict) -> None:
    print(f"test MSE {m['test_mse']:.5f}  PSNR {m['test_psnr']:.2f} dB  SSIM {m['test_ssim']:.4f}")
    print(f"PCA k=same MSE {m['pca_mse']:.5f}  PSNR {m['pca_psnr']:.2f} dB  SSIM {m['pca_ssim']:.4f}  "
          f"(model MSE = {m['mse_vs_pca']:.3f}x PCA)")
    if "anomaly_auc" in m:
        print(f"anomaly class {m['anomaly_class']}: ROC AUC {m['anomaly_auc']:.4f}  (PCA {m['pca_anomaly_auc']:.4f})")


def print_disentanglement(m: dict) -> None:
    """MIG / DCI / SAP of the model and of PCA at the same size, where the dataset has factors."""
    if "mig" not in m:
        return
    for label, p in (("model", ""), ("PCA  ", "pca_")):
        print(f"{label} " + "  ".join(f"{metric.label} {m[p + metric.key]:{metric.format}}" for metric in METRICS))


def dataset_for(checkpoint: ckpt.Checkpoint, name: str | None) -> Dataset:
    """``name``, else the dataset the checkpoint was trained on, read for the model as the app
    reads it (``dataset_spec.for_model``: at its input shape, a folder by the model's rule), and
    checked to fit it."""
    model = as_model(checkpoint)
    dataset = load_dataset(for_model(name or model.trained_on or "mnist", model))
    check_fits(model, dataset.input_shape, dataset.name)
    return dataset


def cmd_evaluate(args: argparse.Namespace) -> None:
    from .train import evaluate

    checkpoint = ckpt.load(args.checkpoint)
    dataset = dataset_for(checkpoint, args.dataset)
    exclude = checkpoint.config.get("training", {}).get("anomaly_class")
    result = evaluate(checkpoint.model, dataset, exclude_class=exclude)
    print_metrics(result)
    print_disentanglement(result)
    print_representation_quality(checkpoint, dataset)


def print_representation_quality(checkpoint: ckpt.Checkpoint, dataset) -> None:
    """kNN, linear-probe and clustering figures of the codes beside PCA at the same size and pixels."""
    from . import quality

    if dataset.y is None:
        print("representation quality: not computed (the dataset has no labels)")
        return
    engine = InferenceEngine(checkpoint)
    try:
        codes = engine.encode_dataset(dataset).codes
    finally:
        engine.close()
    columns = {"model": quality.model_quality(engine.source.content_hash, dataset, codes),
               f"PCA {engine.latent_dim}": quality.pca_quality(dataset, engine.latent_dim),
               "pixels": quality.pixel_quality(dataset)}
    rows = {"kNN accuracy (5-NN)": "knn_accuracy", "linear probe, 10 labels/class": "probe_10",
            "linear probe, 100 labels/class": "probe_100", "linear probe, all labels": "probe_all",
            "NMI (k-means)": "nmi", "ARI (k-means)": "ari"}
    print(f"{'representation (test split)':<31}" + "".join(f"{name:>10}" for name in columns))
    for label, field in rows.items():
        print(f"{label:<31}" + "".join(f"{getattr(q, field):>10.3f}" for q in columns.values()))


def cmd_info(args: argparse.Namespace) -> None:
    checkpoint = ckpt.load(args.checkpoint)
    print(json.dumps({**checkpoint.config, "parameters": checkpoint.model.num_parameters(),
                      "content_hash": checkpoint.content_hash}, indent=2))


def cmd_encode(args: argparse.Namespace) -> None:
    checkpoint = ckpt.load(args.checkpoint)
    dataset = dataset_for(checkpoint, args.dataset)
    codes = InferenceEngine(checkpoint).encode(dataset.x)
    out = Path(args.out)
    if out.suffix == ".csv":
        header = ",".join(["label"] * (dataset.y is not None) + [f"z{i}" for i in range(codes.shape[1])])
        table = codes if dataset.y is None else np.column_stack([dataset.y, codes])
        np.savetxt(out, table, delimiter=",", header=header, comments="", fmt="%.6g")
    else:
        np.savez(out, z=codes, **({"y": dataset.y} if dataset.y is not None else {}))
    print(f"wrote {len(codes)} codes of size {codes.shape[1]} to {out}")


def cmd_sweep(args: argparse.Namespace) -> None:
    from .sweep import run_sweep
    from .train import TrainConfig

    if args.threads:
        torch.set_num_threads(args.threads)
    dataset = load_dataset(args.dataset)
    model_args: dict = {}
    if args.hidden is not None:
        model_args["hidden"] = parse_list(args.hidden)
    if args.recon_loss is not None:
        model_args["recon_loss"] = args.recon_loss
    cfg = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                      shift=args.shift, device=args.device)
    summary = run_sweep(args.model, model_args, dataset, args.latent_dims, args.out, cfg)
    pca = {p["latent_dim"]: p["test_mse"] for p in summary["pca"]}
    print(f"{'size':>5} {args.model + ' MSE':>14} {'PCA MSE':>10} {'ratio':>7}")
    for point in summary["families"][args.model]["points"]:
        d = point["latent_dim"]
        print(f"{d:>5} {point['test_mse']:>14.5f} {pca[d]:>10.5f} {point['test_mse'] / pca[d]:>7.3f}")
    print(f"wrote {Path(args.out) / 'sweep.json'}")


def add_sweep_parser(sub) -> None:
    s = sub.add_parser("sweep", help="train one model per latent size with one recipe, PCA beside each")
    s.add_argument("--model", required=True, choices=sorted(MODEL_TYPES))
    s.add_argument("--dataset", default="mnist")
    s.add_argument("--latent-dims", type=int, nargs="+", required=True)
    s.add_argument("--out", required=True, help="sweep folder (a second family is added to it)")
    s.add_argument("--hidden", help="MLP widths, e.g. 128 (empty string: none)")
    s.add_argument("--recon-loss", choices=list(RECON_LOSSES))
    s.add_argument("--epochs", type=int, default=100)
    s.add_argument("--batch-size", type=int, default=128)
    s.add_argument("--lr", type=float, default=2e-3)
    s.add_argument("--shift", type=int, default=0)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--threads", type=int, default=0)
    s.add_argument("--device", default="cpu")
    s.set_defaults(func=cmd_sweep)


def cmd_export(args: argparse.Namespace) -> None:
    """Write any model that opens as an ONNX pair + explorer.json (the ONNX source reads it back)."""
    model = open_model(args.checkpoint, bottleneck=args.bottleneck)
    out = export_onnx(model, args.onnx)
    print(f"wrote {out / 'encoder.onnx'}, {out / 'decoder.onnx'} and {out / 'explorer.json'} "
          f"({model.kind} model {model.name}: {list(model.input_shape)} -> {model.latent_dim}-d codes)")


def add_export_command(sub) -> None:
    x = sub.add_parser("export", help="write a model as encoder.onnx + decoder.onnx + explorer.json")
    x.add_argument("checkpoint", help="anything the app opens: checkpoint folder, ONNX folder, .keras, adapter .py")
    x.add_argument("--onnx", required=True, metavar="OUT", help="folder to write")
    x.add_argument("--bottleneck", help="for a one-file Keras autoencoder: the layer whose output is the code")
    x.set_defaults(func=cmd_export)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m explorer", description="Latent Explorer command line")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a model and write its checkpoint")
    t.add_argument("--model", required=True, choices=sorted(MODEL_TYPES))
    t.add_argument("--dataset", default="mnist", help="mnist, digits, a folder of images or an .npz")
    t.add_argument("--latent-dim", type=int, default=16)
    t.add_argument("--epochs", type=int, default=30)
    t.add_argument("--batch-size", type=int, default=128)
    t.add_argument("--lr", type=float, default=2e-3)
    t.add_argument("--weight-decay", type=float, default=0.0)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--out", required=True, help="checkpoint folder to write")
    t.add_argument("--name", help="display name (default: the folder's name)")
    t.add_argument("--body", choices=list(BODIES))
    t.add_argument("--hidden", help="MLP widths, e.g. 256,128")
    t.add_argument("--channels", help="conv widths per stage, e.g. 32,64")
    t.add_argument("--conv-hidden", type=int)
    t.add_argument("--recon-loss", choices=list(RECON_LOSSES))
    t.add_argument("--sparsity", choices=["l1", "kl"])
    t.add_argument("--sparsity-weight", type=float)
    t.add_argument("--rho", type=float)
    t.add_argument("--noise", choices=["gaussian", "mask"])
    t.add_argument("--noise-level", type=float)
    t.add_argument("--contraction-weight", type=float)
    t.add_argument("--beta", type=float)
    t.add_argument("--tc-weight", type=float, help="beta_tcvae: extra weight on the total correlation")
    t.add_argument("--kl-warmup", type=int, default=0, help="epochs of linear KL warm-up (VAEs)")
    t.add_argument("--shift", type=int, default=0, help="random translation augmentation, pixels")
    t.add_argument("--exclude-class", type=int, help="leave this label out of training (anomaly detection)")
    t.add_argument("--image-size", type=int, default=28, help="side length for a folder of images")
    t.add_argument("--image-channels", type=int, choices=[1, 3], help="1 (gray) or 3 (colour) for a folder of "
                   "images (default 1), or to convert an .npz (default: as stored)")
    t.add_argument("--preprocessing", choices=["digit", "plain"], help="how a folder's files are read: digit "
                   "(like MNIST; the default for 1 channel) or plain (colour kept, centre crop)")
    t.add_argument("--threads", type=int, default=0, help="CPU threads for torch (0: its default)")
    t.add_argument("--device", default="cpu", help="cpu, cuda or mps")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("evaluate", help="test metrics beside the PCA baseline")
    e.add_argument("checkpoint")
    e.add_argument("--dataset")
    e.set_defaults(func=cmd_evaluate)

    i = sub.add_parser("info", help="print a checkpoint's config")
    i.add_argument("checkpoint")
    i.set_defaults(func=cmd_info)

    c = sub.add_parser("encode", help="encode a dataset to .npz or .csv")
    c.add_argument("checkpoint")
    c.add_argument("--dataset")
    c.add_argument("--out", required=True)
    c.set_defaults(func=cmd_encode)

    add_sweep_parser(sub)
    add_export_command(sub)

    args = p.parse_args(argv)
    try:
        args.func(args)
    except (ckpt.CheckpointError, DatasetError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
