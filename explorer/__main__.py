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
from .disentangle import METRICS, MIG_TARGET_VS_PCA, MIG_TARGET_VS_VAE
from .formatting import formatted
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
    """MIG / DCI / SAP of the model and of PCA at the same size (the median of its fits, and
    their range), where the dataset has factors, and whether the model meets the MIG target."""
    if "mig" not in m:
        return
    print("model " + "  ".join(f"{metric.label} {formatted(m[metric.key], metric.format)}" for metric in METRICS))
    pca = "PCA   " + "  ".join(f"{metric.label} {formatted(m['pca_' + metric.key], metric.format)}" for metric in METRICS)
    fits = m.get("pca_mig_fits") or []
    if len(fits) > 1:
        print(f"{pca}  (the median of {len(fits)} fits, each on another sample of {m['pca_fit_size']:,} training images)")
        print("PCA's range over its fits: " + "  ".join(
            f"{metric.label} {formatted(min(m[f'pca_{metric.key}_fits']), metric.format)}-"
            f"{formatted(max(m[f'pca_{metric.key}_fits']), metric.format)}" for metric in METRICS))
    else:
        print(pca)
    if m["pca_mig"]:
        print(f"MIG {formatted(m['mig'], '.3f')} is {formatted(m['mig'] / m['pca_mig'], '.2f')}x PCA's median (a model "
              f"trained to disentangle is held to {MIG_TARGET_VS_PCA:g}x: {formatted(MIG_TARGET_VS_PCA * m['pca_mig'], '.3f')}, "
              f"and to {MIG_TARGET_VS_VAE:g}x the plain VAE's)")


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
    if args.record and args.dataset:
        raise ValueError("--record writes the figures of the dataset the checkpoint was trained on: leave out --dataset")
    dataset = dataset_for(checkpoint, args.dataset)
    exclude = checkpoint.config.get("training", {}).get("anomaly_class")
    result = evaluate(checkpoint.model, dataset, exclude_class=exclude)
    print_metrics(result)
    print_disentanglement(result)
    print_representation_quality(checkpoint, dataset)
    if args.record:
        record_figures(checkpoint, result)


def record_figures(checkpoint: ckpt.Checkpoint, figures: dict) -> None:
    """Write freshly measured test figures into the checkpoint's training record (config.json and
    the weights file's metadata; the weights are written back unchanged): how the shipped
    checkpoints' figures are updated when a figure's definition changes, never by hand."""
    if not checkpoint.path.is_dir():
        raise ValueError(f"{checkpoint.path.name}: --record needs a checkpoint folder (config.json + model.safetensors)")
    meta = {k: v for k, v in checkpoint.config.items() if k not in ckpt.make_config(checkpoint.model)}
    meta["training"] = {**checkpoint.config.get("training", {}), **figures}
    ckpt.save(checkpoint.model, checkpoint.path, meta)
    print(f"recorded the figures above in {checkpoint.path / ckpt.CONFIG_NAME}")


def print_representation_quality(checkpoint: ckpt.Checkpoint, dataset) -> None:
    """kNN, linear-probe and clustering figures of the codes beside PCA at the same size and pixels."""
    from . import quality

    if dataset.y is None:
        print("representation quality: not computed (the dataset has no labels)")
        return
    engine = InferenceEngine(checkpoint)
    try:
        figures = quality.model_quality(engine.source.content_hash, dataset, lambda idx: engine.encode(dataset.x[idx]))
    finally:
        engine.close()
    columns = {"model": figures,
               f"PCA {engine.latent_dim}": quality.pca_quality(dataset, engine.latent_dim),
               "pixels": quality.pixel_quality(dataset)}
    rows = {"kNN accuracy (5-NN)": "knn_accuracy", "linear probe, 10 labels/class": "probe_10",
            "linear probe, 100 labels/class": "probe_100", "linear probe, all labels": "probe_all",
            "NMI (k-means)": "nmi", "ARI (k-means)": "ari"}
    print(f"{'representation (test split)':<31}" + "".join(f"{name:>10}" for name in columns))
    for label, field in rows.items():
        print(f"{label:<31}" + "".join(f"{formatted(getattr(q, field), '.3f'):>10}" for q in columns.values()))


def cmd_info(args: argparse.Namespace) -> None:
    checkpoint = ckpt.load(args.checkpoint)
    print(json.dumps({**checkpoint.config, "parameters": checkpoint.model.num_parameters(),
                      "content_hash": checkpoint.content_hash}, indent=2))


def cmd_encode(args: argparse.Namespace) -> int:
    """To a .csv or .npz (the whole dataset in memory), or block by block into a store (a folder)."""
    name = args.dataset or args.dataset_option
    if Path(args.out).suffix.lower() not in (".csv", ".npz"):
        return encode_store(args, name)
    if args.ray or args.address:
        raise ValueError("--ray writes a store: give --out a folder, not a .csv or .npz file")
    checkpoint = ckpt.load(args.checkpoint)
    dataset = dataset_for(checkpoint, name)
    codes = InferenceEngine(checkpoint).encode(dataset.x)
    out = Path(args.out)
    if out.suffix == ".csv":
        header = ",".join(["label"] * (dataset.y is not None) + [f"z{i}" for i in range(codes.shape[1])])
        table = codes if dataset.y is None else np.column_stack([dataset.y, codes])
        np.savetxt(out, table, delimiter=",", header=header, comments="", fmt="%.6g")
    else:
        np.savez(out, z=codes, **({"y": dataset.y} if dataset.y is not None else {}))
    print(f"wrote {len(codes)} codes of size {codes.shape[1]} to {out}")
    return 0


def encode_store(args: argparse.Namespace, dataset: str | None) -> int:
    """Every block of the dataset into the store ``args.out``, in process or on Ray (resumable)."""
    from .bulk import EncodeConfig, encode_to_store

    if dataset is None:
        dataset = open_model(args.checkpoint).trained_on
        if dataset is None:
            raise ValueError("name the dataset to encode, e.g. python -m explorer encode MODEL shapes:1000000 --out STORE")
    config = EncodeConfig(block_size=args.block_size, ray=args.ray or bool(args.address), address=args.address,
                          actors=args.actors, threads=args.threads, gpus_per_actor=args.gpus_per_actor,
                          preprocessing=args.preprocessing, seed=args.seed)
    summary = encode_to_store(args.checkpoint, dataset, args.out, config)
    total = summary.manifest.num_blocks
    if summary.resumed == total:
        print(f"{summary.store} is complete: all {total} blocks were already there")
        return 0
    rate = summary.rows / max(summary.seconds - summary.setup_seconds, 1e-9)
    print(f"{summary.engine}: wrote {summary.rows:,} images in {len(summary.reports) - len(summary.failed)} of {total} "
          f"blocks to {summary.store} in {summary.seconds:.1f} s (the first block started after {summary.setup_seconds:.1f} s, then "
          f"{rate:,.0f} images/s)" + (f"; {summary.resumed} blocks were already there" if summary.resumed else ""))
    skipped = sum(r.skipped for r in summary.reports)
    if skipped:
        print(f"{skipped:,} files could not be read and were left out (open_store(...).skipped lists them)")
    problems = [f"block {r.block} failed: {r.error}" for r in summary.failed]
    if summary.extra.get("stopped"):
        problems.append(f"Ray stopped early ({summary.extra['stopped']})")
    if problems or summary.not_run:
        left = len(summary.failed) + summary.not_run
        print("\n".join(problems) + f"\n{left} of {total} blocks are not written: run the same command again to "
              f"encode them (finished blocks are kept)", file=sys.stderr)
        return 1
    return 0


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


def add_encode_parser(sub) -> None:
    from .bulk import DEFAULT_BLOCK_SIZE

    c = sub.add_parser("encode", help="encode a dataset to .npz or .csv, or block by block into a store (a folder), "
                                      "in process or on Ray")
    c.add_argument("checkpoint", help="anything the app opens: checkpoint folder, ONNX folder, .keras, adapter .py")
    c.add_argument("dataset", nargs="?", help="mnist, digits, shapes[:N] (N up to 1,971,360: beyond 144,000 the 1-px "
                   "grid), shapes-fine:N, a folder of images or an .npz (default: the one the model was trained on)")
    c.add_argument("--dataset", dest="dataset_option", help=argparse.SUPPRESS)  # the older spelling
    c.add_argument("--out", required=True, help="codes.csv or codes.npz (all in memory), or a store folder "
                   "(one Parquet file per block; a stopped run resumes)")
    c.add_argument("--block-size", type=int, default=DEFAULT_BLOCK_SIZE, help="images per block (store)")
    c.add_argument("--ray", action="store_true", help="run the blocks as Ray Data actors (a local Ray unless --address)")
    c.add_argument("--address", help="a running Ray cluster: 'auto' inside `ray job submit`, or ray://HEAD:10001")
    c.add_argument("--actors", type=int, help="Ray actors (default: 2 locally, one per GPU or CPUs / threads on a cluster)")
    c.add_argument("--threads", type=int, help="engine threads per process (default: all cores in process, "
                   "cores / actors on a local Ray, 4 per actor on a cluster)")
    c.add_argument("--gpus-per-actor", type=float, help="GPUs each actor asks of Ray (default: 1 where Ray has GPUs)")
    c.add_argument("--preprocessing", choices=["digit", "plain"], help="how a folder's files are read (default: as "
                   "the app picks for the model)")
    c.add_argument("--seed", type=int, default=0, help="which sample of the shapes grid")
    c.set_defaults(func=cmd_encode)


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


def build_parser() -> argparse.ArgumentParser:
    """The command line's parser (tests check the README's commands against it)."""
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
    e.add_argument("--record", action="store_true", help="write the figures into the checkpoint's training record "
                   "(on the dataset it was trained on)")
    e.set_defaults(func=cmd_evaluate)

    i = sub.add_parser("info", help="print a checkpoint's config")
    i.add_argument("checkpoint")
    i.set_defaults(func=cmd_info)

    add_encode_parser(sub)

    add_sweep_parser(sub)
    add_export_command(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .ray_runner import RayMissing

    try:
        return args.func(args) or 0
    except (ckpt.CheckpointError, DatasetError, ValueError, RayMissing) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
