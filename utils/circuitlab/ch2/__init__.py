"""Chapter 2: induction heads, found and reverse-engineered in a 2-layer attention-only model."""
from circuitlab.grading.registry import Chapter

CHAPTER = Chapter(
    number=2,
    slug="02_induction_heads",
    title="Induction heads",
    paper="Elhage et al. (2021), A Mathematical Framework for Transformer Circuits; "
          "Olsson et al. (2022), In-context Learning and Induction Heads",
    hours=5.5,
    prerequisites=["chapter 0 (einops, einsum, plotly)", "chapter 1 (what attention computes)"],
    summary="Find, measure and reverse-engineer the induction circuit of a 2-layer attention-only model "
            "with TransformerLens hooks, ablations and QK/OV circuits.",
)
