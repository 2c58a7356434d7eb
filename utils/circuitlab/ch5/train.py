"""Train and save chapter 5's shipped toy models: ``python -m circuitlab.ch5.train``.

- ``tms_sweep_5_2``: the standard 5 -> 2 sparsity sweep (one instance per feature probability);
- ``tms_sae_toy``: the toy models whose hidden activations the SAEs are trained on;
- ``tms_sae_resampled`` / ``tms_sae_no_resampling``: SAEs on those activations, with and without
  resampling of dead latents.

The measured results go into each checkpoint's metadata; ``tests/test_ch5_shipped.py`` checks
them against the issue's claims. With ``--out DIR`` the checkpoints go elsewhere (for a dry run).
"""
from __future__ import annotations

import argparse
import time
from dataclasses import asdict, replace
from pathlib import Path

import torch

from circuitlab import threads as thread_policy
from circuitlab.ch5 import reference as ref
from circuitlab.ch5 import toy


def train_sweep(settings: toy.SweepSettings, out: Path) -> dict:
    start = time.perf_counter()
    model, probability, losses = toy.run_sparsity_sweep(settings)
    seconds = time.perf_counter() - start
    W = model.W.detach()
    measured = {
        "represented_features": toy.represented_features(W).tolist(),
        "feature_probability": probability[:, 0].tolist(),
        "dimensionality": ref.dimensionality(W).tolist(),
        "final_loss": sum(losses[-100:]) / min(100, len(losses)),
        "train_seconds": round(seconds, 1),
    }
    sizes = {"n_instances": settings.n_instances, "n_features": settings.n_features, "n_hidden": settings.n_hidden}
    toy.save_toy(model, "tms_sweep_5_2", "ToyModel", sizes, {"recipe": asdict(settings), "measured": measured}, out)
    return measured


def train_sae_pair(settings: toy.SAESettings, out: Path) -> dict:
    toy_model, sample_h = toy.sae_toy_model(settings)
    sizes = {"n_instances": settings.n_instances, "n_features": settings.n_features, "n_hidden": settings.n_hidden}
    toy.save_toy(toy_model, "tms_sae_toy", "ToyModel", sizes,
                 {"recipe": asdict(settings), "measured": {
                     "represented_features": toy.represented_features(toy_model.W.detach()).tolist()}}, out)
    results = {}
    for resample in (True, False):
        torch.manual_seed(settings.seed + 1)
        sae = ref.ToySAE(settings.n_instances, settings.n_hidden, settings.d_sae)
        start = time.perf_counter()
        run = toy.train_sae(sae, sample_h, settings, resample=resample)
        seconds = time.perf_counter() - start
        report = toy.recovery_report(sae, toy_model)
        torch.manual_seed(999)
        measured = {
            "recovered_fraction": report["recovered_fraction"],
            "recovered_per_instance": report["recovered_per_instance"],
            "matched_cosine": report["matched_cosine"].tolist(),
            "live_latents": toy.count_live(sae, sample_h(8192)),
            "live_history": run.live_history,
            "resampled_latents": run.resampled,
            "train_seconds": round(seconds, 1),
        }
        name = "tms_sae_resampled" if resample else "tms_sae_no_resampling"
        sae_sizes = {"n_instances": settings.n_instances, "d_in": settings.n_hidden, "d_sae": settings.d_sae}
        toy.save_toy(sae, name, "ToySAE", sae_sizes,
                     {"recipe": {**asdict(settings), "resample": resample}, "measured": measured}, out)
        results[name] = measured
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=toy.TOY_CHECKPOINTS)
    parser.add_argument("--threads", type=thread_policy.argument, default=1, metavar="N|auto",
                        help="torch threads (default 1, as the shipped toy models were trained); 'auto': one per free core")
    parser.add_argument("--quick", action="store_true", help="a tiny run, to check that the code works")
    args = parser.parse_args(argv)
    thread_policy.use_policy(args.threads)
    sweep, sae = toy.SweepSettings(), toy.SAESettings()
    if args.quick:
        sweep = replace(sweep, steps=20, n_instances=3)
        sae = replace(sae, toy_steps=20, steps=40, resample_every=20, window=10, n_instances=2)
    print("sweep:", train_sweep(sweep, args.out))
    for name, measured in train_sae_pair(sae, args.out).items():
        print(f"{name}:", {k: measured[k] for k in ("recovered_fraction", "live_latents", "resampled_latents",
                                                    "train_seconds")})


if __name__ == "__main__":
    main()
