#!/usr/bin/env bash
# Retrains every shipped checkpoint: mnist-* from the bundled MNIST digits (about 1 minute per
# model on 2 CPU cores), shapes-* from the generated 64x64 colour shapes (about 1.5 minutes
# per epoch on 2 CPU cores: 6 to 30 minutes per model). Seeded: a rerun on the same machine
# gives the same weights.
#   bash checkpoints/train.sh            # all of them
#   bash checkpoints/train.sh mnist-vae  # just the ones named
#   DEVICE=cuda bash checkpoints/train.sh  # on a GPU (same recipes; the shipped ones were trained on the CPU)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
CONV="--body conv --channels 32,64"
SHAPES="--body conv --channels 32,32,64,64 --conv-hidden 256 --latent-dim 10 --batch-size 64 --lr 1e-3"

declare -A RECIPES=(
  [mnist-ae]="--model ae --recon-loss bce --hidden 256,128 --shift 1 --epochs 200"
  [mnist-conv-ae]="--model conv_ae --channels 32,64 --recon-loss bce --epochs 60"
  [mnist-sparse-ae]="--model sparse_ae $CONV --recon-loss bce --sparsity l1 --sparsity-weight 0.05 --epochs 60"
  [mnist-denoising-ae]="--model denoising_ae $CONV --recon-loss bce --noise gaussian --noise-level 0.3 --shift 1 --epochs 100"
  [mnist-contractive-ae]="--model contractive_ae $CONV --recon-loss bce --contraction-weight 0.01 --epochs 60"
  [mnist-vae]="--model vae $CONV --kl-warmup 10 --epochs 60"
  [mnist-beta-vae]="--model beta_vae $CONV --beta 2 --kl-warmup 10 --epochs 60"
  # 2-D codes: a deeper MLP and a calibrated Gaussian decoder beat every conv variant tried
  [mnist-vae-2d]="--model vae --hidden 256,256,256,256 --latent-dim 2 --recon-loss gaussian --shift 1 --kl-warmup 10 --epochs 300"
  [mnist-anomaly-ae]="--model conv_ae --channels 32,64 --recon-loss bce --exclude-class 2 --epochs 60"
  # --threads 1: on a busy 2-core machine one thread trained 4x faster than two (OpenMP spin-waits)
  [shapes-ae]="--model conv_ae $SHAPES --recon-loss bce --epochs 4 --threads 1"
  [shapes-vae]="--model vae $SHAPES --epochs 6"
  # beta by measurement (test MIG, same recipe otherwise): 1 (shapes-vae, 6 epochs) 0.026, 4 0.108, 16 0.016
  [shapes-beta-vae]="--model beta_vae $SHAPES --beta 4 --epochs 8 --threads 1"
  # 20 epochs: at 8 its MIG was 0.093, at 20 0.138 (every other score rose with it)
  [shapes-beta-tcvae]="--model beta_tcvae $SHAPES --tc-weight 9 --epochs 20 --threads 1"
)
ORDER=(mnist-ae mnist-conv-ae mnist-sparse-ae mnist-denoising-ae mnist-contractive-ae mnist-vae mnist-beta-vae mnist-vae-2d mnist-anomaly-ae
       shapes-ae shapes-vae shapes-beta-vae shapes-beta-tcvae)

for name in "${@:-${ORDER[@]}}"; do
  [ -n "${RECIPES[$name]:-}" ] || { echo "unknown checkpoint $name" >&2; exit 2; }
  echo "== $name: ${RECIPES[$name]}"
  # shellcheck disable=SC2086
  $PY -m explorer train ${RECIPES[$name]} --dataset "${name%%-*}" --seed 0 --device "${DEVICE:-cpu}" --out "checkpoints/$name"
done
