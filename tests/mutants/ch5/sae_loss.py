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


@mutant(hint="drops the instance axis")
def squeezed(h, acts, recon, l1_coeff):
    return (((recon - h) ** 2).mean((0, 2)) + l1_coeff * acts.abs().sum(-1).mean(0)).squeeze()


@mutant(hint="not connected to acts and recon")
def detached(h, acts, recon, l1_coeff):
    return (((recon - h) ** 2).mean((0, 2)) + l1_coeff * acts.abs().sum(-1).mean(0)).detach()


@mutant(hint="summed over the batch")
def l1_summed_over_batch(h, acts, recon, l1_coeff):
    return ((recon - h) ** 2).mean((0, 2)) + l1_coeff * acts.abs().sum((0, 2))


@mutant(hint="gradient of the SAE loss with respect to recon")
def reconstruction_gradient_stopped(h, acts, recon, l1_coeff):
    mse = ((recon - h) ** 2).mean((0, 2))
    return mse.detach() + (mse - mse.detach()) * 0.5 + l1_coeff * acts.abs().sum(-1).mean(0)


@alternative
def acts_are_non_negative(h, acts, recon, l1_coeff):
    # acts come out of a ReLU, so their sum is their L1 norm.
    import einops

    reconstruction = einops.reduce((recon - h).pow(2), "b i d -> i", "mean")
    return reconstruction + l1_coeff * einops.reduce(acts, "b i s -> i", "sum") / acts.shape[0]
