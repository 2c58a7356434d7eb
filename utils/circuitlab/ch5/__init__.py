"""Chapter 5: superposition and sparse autoencoders."""
from circuitlab.grading.registry import Chapter

CHAPTER = Chapter(
    number=5,
    slug="05_superposition",
    title="Superposition and sparse autoencoders",
    paper="Elhage et al. (2022), Toy Models of Superposition; Bricken et al. (2023), Towards Monosemanticity",
    hours=4.5,
    prerequisites=["chapter 0 (einops, einsum, plotly)", "PyTorch training loops (chapter 1)"],
    summary="Toy models that squeeze many sparse features into few dimensions, their geometry, "
            "and sparse autoencoders that pull the features back out.",
)
