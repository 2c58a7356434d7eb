"""Mutants and alternatives for ch5.sae_loss."""
from circuitlab.grading.meta import alternative, mutant


@mutant(hint="L1 penalty is on the reconstruction")
def l1_on_reconstruction(h, acts, recon, l1_coeff):
    return ((recon - h) ** 2).mean((0, 2)) + l1_coeff * recon.abs().sum(-1).mean(0)


@mutant(hint="L1 penalty is on the input")
def l1_on_input(h, acts, recon, l1_coeff):
    return ((recon - h) ** 2).mean((0, 2)) + l1_coeff * h.abs().sum(-1).mean(0)


@mutant(hint="squares the activations")
def l2_penalty(h, acts, recon, l1_coeff):
    return ((recon - h) ** 2).mean((0, 2)) + l1_coeff * (acts**2).sum(-1).mean(0)


@mutant(hint="averages over latents")
def l1_mean_over_latents(h, acts, recon, l1_coeff):
    return ((recon - h) ** 2).mean((0, 2)) + l1_coeff * acts.abs().mean((0, 2))


@mutant(hint="one loss per instance")
def scalar(h, acts, recon, l1_coeff):
    return (((recon - h) ** 2).mean((0, 2)) + l1_coeff * acts.abs().sum(-1).mean(0)).sum()


@alternative
def with_norms(h, acts, recon, l1_coeff):
    d_in = h.shape[-1]
    reconstruction = (recon - h).norm(dim=-1).pow(2).mean(0) / d_in
    return reconstruction + l1_coeff * acts.norm(p=1, dim=-1).mean(0)
