"""Chapter 2's model to search: ``attn_only_2l_text``, and the rules that sort its heads into roles.

The notebook measures the heads with the learner's own detectors; ``tests/test_ch2_text_model.py``
measures them with the references. Both hand their score tables to :func:`head_roles`, so the
chapter and its tests sort heads by one rule.
"""
from __future__ import annotations

from typing import Mapping

import torch
from torch import Tensor

from circuitlab.ch2.train_text import TEXT_MODEL_NAME

__all__ = ["TEXT_MODEL_NAME", "ROLE_THRESHOLDS", "head_roles", "heads_text", "random_composition_scores"]

# A head plays a role when its score reaches the threshold. Attention spread evenly over the 20 to 60
# visible positions would score 0.02-0.05 on every detector. The pattern detectors use the chapter's 0.4.
# Induction gets 0.2 (four to ten times even attention): on this model the induction heads also keep part
# of their attention on BOS, even on repeated tokens, so their stripe is real but not dominant.
ROLE_THRESHOLDS: dict[str, float] = {"previous token": 0.4, "current token": 0.4, "first token": 0.4,
                                     "induction": 0.2}


def head_roles(tables: Mapping[str, Tensor], thresholds: Mapping[str, float] = ROLE_THRESHOLDS) -> dict[str, list[tuple[int, int]]]:
    """For each role in ``thresholds``, the (layer, head) pairs whose score in ``tables[role]`` reaches it.

    ``tables[role]`` is a ``Float[Tensor, "layer head"]``. A head may play several roles; the key
    ``"none of these"`` lists the heads that play none.
    """
    roles = {role: [tuple(pair) for pair in torch.nonzero(tables[role] >= threshold).tolist()]
             for role, threshold in thresholds.items()}
    shape = next(iter(tables.values())).shape
    assigned = {pair for pairs in roles.values() for pair in pairs}
    roles["none of these"] = [(layer, head) for layer in range(shape[0]) for head in range(shape[1])
                              if (layer, head) not in assigned]
    return roles


def heads_text(pairs) -> str:
    """``[(0, 5), (1, 3)]`` -> ``"0.5, 1.3"`` (``"none"`` when empty)."""
    return ", ".join(f"{layer}.{head}" for layer, head in pairs) or "none"


def random_composition_scores(d_model: int, d_head: int, n: int, seed: int = 0) -> Tensor:
    """Composition scores of ``n`` pairs of random rank-``d_head`` factored matrices: the chance baseline.

    The score is ``||A @ B||_F / (||A||_F ||B||_F)`` for independent Gaussian factors of the heads'
    shapes, about ``1 / sqrt(d_model)``. Returns ``Float[Tensor, "n"]``.
    """
    from transformer_lens import FactoredMatrix

    generator = torch.Generator().manual_seed(seed)

    def random_factored() -> FactoredMatrix:
        return FactoredMatrix(torch.randn(n, d_model, d_head, generator=generator),
                              torch.randn(n, d_head, d_model, generator=generator))

    write, read = random_factored(), random_factored()
    return (write @ read).norm() / (write.norm() * read.norm())
