"""Training loop: seeded, with a progress bar, validation and best-model keeping."""
from __future__ import annotations

import copy
import datetime as dt
import random
from dataclasses import dataclass, field

import numpy as np
import torch
from sklearn.model_selection import train_test_split
from tqdm import tqdm

from . import disentangle, metrics
from .data import Dataset, subsample
from .models import Autoencoder, build


FACTOR_FIT_SIZE = 5000  # training codes the DCI and SAP predictors are fitted on
FACTOR_EVAL_SIZE = 5000  # held-out test codes every disentanglement score is measured on
# PCA's disentanglement figures are the median over this many PCA fits, each on another sample of
# training images: near-equal eigenvalues leave its components' rotation to the sample.
PCA_FITS = 5


@dataclass
class TrainConfig:
    epochs: int = 30  # passes over the training split
    batch_size: int = 128  # samples per optimiser step
    lr: float = 2e-3  # Adam learning rate, cosine-annealed to lr/20
    weight_decay: float = 0.0  # AdamW weight decay
    val_fraction: float = 0.1  # share of the training split held out to pick the best epoch
    seed: int = 0  # seeds data order, initialisation and noise: a rerun gives the same model
    exclude_class: int | None = None  # leave this label out of training (anomaly detection)
    kl_warmup: int = 0  # epochs over which a VAE's KL weight ramps from 0 to its value
    shift: int = 0  # random translation in pixels for augmentation (0: none)
    device: str = "cpu"  # where to train: "cpu", "cuda", "mps" (the checkpoint is the same format)
    extra: dict = field(default_factory=dict)  # free-form notes stored with the checkpoint


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.backends.cudnn.deterministic = True  # same seed, same model, on GPUs too
    torch.backends.cudnn.benchmark = False


def random_shift(x: torch.Tensor, pixels: int, generator: torch.Generator) -> torch.Tensor:
    """Translate each image by up to ``pixels`` in each direction, zero-filled."""
    if pixels <= 0:
        return x
    padded = torch.nn.functional.pad(x, (pixels,) * 4)
    n, _, h, w = x.shape
    dy = torch.randint(0, 2 * pixels + 1, (n,), generator=generator)
    dx = torch.randint(0, 2 * pixels + 1, (n,), generator=generator)
    rows = (dy[:, None] + torch.arange(h)[None])[:, None, :, None].expand(n, x.shape[1], h, w + 2 * pixels)
    shifted = padded.gather(2, rows)
    cols = (dx[:, None] + torch.arange(w)[None])[:, None, None, :].expand(n, x.shape[1], h, w)
    return shifted.gather(3, cols)


def training_indices(dataset: Dataset, cfg: TrainConfig) -> tuple[np.ndarray, np.ndarray]:
    idx = dataset.train_indices(cfg.exclude_class)
    labels = None if dataset.y is None else dataset.y[idx]
    stratify = (labels if labels is not None and len(set(labels)) > 1
                and np.unique(labels, return_counts=True)[1].min() >= 2 else None)
    fit, val = train_test_split(idx, test_size=cfg.val_fraction, random_state=cfg.seed, stratify=stratify)
    return np.sort(fit), np.sort(val)


@torch.no_grad()
def reconstruct(model: Autoencoder, x: np.ndarray, batch_size: int = 512) -> np.ndarray:
    model.eval()
    device = next(model.parameters()).device
    out = [model(torch.from_numpy(x[i: i + batch_size]).to(device)).cpu().numpy() for i in range(0, len(x), batch_size)]
    return np.concatenate(out) if out else np.zeros_like(x)


@torch.no_grad()
def encode(model: Autoencoder, x, batch_size: int = 512) -> np.ndarray:
    """The codes (means, for a VAE) of images ``x``, which may be any array-like of (N, C, H, W)."""
    model.eval()
    device = next(model.parameters()).device
    out = [model.encode(torch.as_tensor(np.asarray(x[i: i + batch_size])).to(device)).z.cpu().numpy()
           for i in range(0, len(x), batch_size)]
    return np.concatenate(out)


def train(model_type: str, model_args: dict, dataset: Dataset, cfg: TrainConfig, progress: bool = True) -> tuple[Autoencoder, dict]:
    """Train a model; returns the best model on validation MSE and the training record."""
    if cfg.epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {cfg.epochs}")
    seed_everything(cfg.seed)
    model = build(model_type, {**model_args, "input_shape": dataset.input_shape}).to(cfg.device)
    fit_idx, val_idx = training_indices(dataset, cfg)
    x_fit = torch.from_numpy(dataset.x[fit_idx])
    x_val = dataset.x[val_idx]
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = int(np.ceil(len(x_fit) / cfg.batch_size))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs * steps_per_epoch, eta_min=cfg.lr / 20)
    gen = torch.Generator().manual_seed(cfg.seed)
    target_beta = getattr(model.config, "beta", None)
    best = (float("inf"), None, -1)
    history = []
    bar = tqdm(range(cfg.epochs), desc=f"{model_type}", disable=not progress, unit="epoch")
    for epoch in bar:
        if target_beta is not None and cfg.kl_warmup:
            model.config.beta = target_beta * min(1.0, (epoch + 1) / cfg.kl_warmup)
        model.train()
        order = torch.randperm(len(x_fit), generator=gen)
        sums: dict[str, float] = {}
        for i in range(0, len(order), cfg.batch_size):
            batch = random_shift(x_fit[order[i: i + cfg.batch_size]], cfg.shift, gen).to(cfg.device)
            terms = model.loss(batch)
            opt.zero_grad(set_to_none=True)
            terms["total"].backward()
            opt.step()
            sched.step()
            for k, v in terms.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach()) * len(batch)
        train_terms = {k: v / len(x_fit) for k, v in sums.items()}
        val_mse = float(metrics.per_sample_mse(x_val, reconstruct(model, x_val)).mean())
        history.append({"epoch": epoch + 1, **{k: round(v, 6) for k, v in train_terms.items()}, "val_mse": round(val_mse, 6)})
        if val_mse < best[0]:
            best = (val_mse, copy.deepcopy(model.state_dict()), epoch + 1)
        bar.set_postfix({**{k: f"{v:.4g}" for k, v in train_terms.items() if k != "mse"}, "val_mse": f"{val_mse:.4f}"})
    if target_beta is not None:
        model.config.beta = target_beta
    if best[1] is None:
        raise ValueError("training diverged: the validation MSE was never finite (try a lower --lr)")
    model.load_state_dict(best[1])
    model.cpu().eval()  # metrics are recorded on the CPU, where the tests recheck them
    record = {
        "epochs": cfg.epochs, "best_epoch": best[2], "best_val_mse": round(best[0], 6),
        "config": {k: v for k, v in vars(cfg).items() if k != "extra"}, **cfg.extra,
        "final_train_losses": history[best[2] - 1], "date": dt.date.today().isoformat(),
        "train_size": len(fit_idx), "val_size": len(val_idx),
    }
    return model, record


def evaluate(model: Autoencoder, dataset: Dataset, exclude_class: int | None = None) -> dict:
    """Test-split metrics of a model beside PCA at the same latent size on the same split;
    where the dataset has ground-truth factors, the disentanglement scores of both too."""
    x_test, y_test = dataset.split("test")
    recon = reconstruct(model, x_test)
    pca = metrics.PCABaseline(model.latent_dim, metrics.pca_fit_images(dataset, exclude_class))
    pca_recon = pca.reconstruct(x_test)
    result = {f"test_{k}": round(v, 6) for k, v in metrics.summary(x_test, recon).items()}
    result.update({f"pca_{k}": round(v, 6) for k, v in metrics.summary(x_test, pca_recon).items()})
    result["mse_vs_pca"] = round(result["test_mse"] / result["pca_mse"], 4)
    if exclude_class is not None and y_test is not None:
        is_anomaly = (y_test == exclude_class).astype(int)
        result["anomaly_class"] = int(exclude_class)
        result["anomaly_auc"] = round(metrics.anomaly_roc(metrics.per_sample_mse(x_test, recon), is_anomaly)["auc"], 4)
        result["pca_anomaly_auc"] = round(metrics.anomaly_roc(metrics.per_sample_mse(x_test, pca_recon), is_anomaly)["auc"], 4)
    if dataset.factors is not None:
        result.update(evaluate_factors(model, dataset, pca, exclude_class))
    return result


def evaluate_factors(model: Autoencoder, dataset: Dataset, pca: metrics.PCABaseline,
                     exclude_class: int | None = None) -> dict:
    """MIG, DCI and SAP of the model's codes, measured on held-out test images (DCI's and SAP's
    predictors fitted on training images), and PCA's at the same size (see pca_disentanglement;
    ``pca`` is its first fit, the one the reconstruction figures use)."""
    fit, held = subsample(dataset.train_idx, FACTOR_FIT_SIZE), subsample(dataset.test_idx, FACTOR_EVAL_SIZE)
    scores = disentangle.report(encode(model, dataset.x[fit]), dataset.factors[fit], encode(model, dataset.x[held]),
                                dataset.factors[held])
    result = {k: round(v, 4) for k, v in scores.items()}
    result.update(pca_disentanglement(dataset, model.latent_dim, exclude_class, first=pca))
    result["factor_eval_size"] = len(held)
    return result


def pca_disentanglement(dataset: Dataset, latent_dim: int, exclude_class: int | None = None, fits: int = PCA_FITS,
                        first: metrics.PCABaseline | None = None) -> dict:
    """PCA's MIG, DCI and SAP over ``fits`` fits, each on another sample of training images
    (metrics.pca_fit_images with seeds 0, 1, …), scored like a model's: ``pca_<figure>`` is the
    median, ``pca_<figure>_fits`` every fit's value (their range is the baseline's spread)."""
    fit, held = subsample(dataset.train_idx, FACTOR_FIT_SIZE), subsample(dataset.test_idx, FACTOR_EVAL_SIZE)
    x_fit, x_held = dataset.x[fit], dataset.x[held]
    training = len(dataset.train_indices(exclude_class))
    fit_size = min(training, metrics.PCA_FIT_SIZE)
    if training <= metrics.PCA_FIT_SIZE:
        fits = 1  # a training split no larger than one sample: every fit would be the same
    per_fit = []
    for seed in range(fits):
        pca = first if seed == 0 and first is not None else metrics.PCABaseline(
            latent_dim, metrics.pca_fit_images(dataset, exclude_class, seed=seed))
        per_fit.append(disentangle.report(pca.encode(x_fit), dataset.factors[fit], pca.encode(x_held),
                                          dataset.factors[held]))
    result: dict = {"pca_fits": fits, "pca_fit_size": fit_size}
    for key in per_fit[0]:
        values = [round(scores[key], 4) for scores in per_fit]
        result[f"pca_{key}"] = round(float(np.median(values)), 4)
        result[f"pca_{key}_fits"] = values
    return result
