"""Chapter 4: grokking on modular addition, and the Fourier algorithm behind it."""
from circuitlab.grading.registry import Chapter

CHAPTER = Chapter(
    number=4,
    slug="04_grokking",
    title="Grokking: memorise, then generalise, then read the algorithm",
    paper="Nanda, Chan, Lieberum, Smith & Steinhardt (2023), Progress measures for grokking via mechanistic interpretability",
    hours=4.0,
    prerequisites=["chapter 0 (tools of the trade)", "chapter 1 (transformer from scratch)",
                   "complex numbers or trigonometry at school level"],
    summary="Train a one-layer transformer that groks modular addition in seconds on a CPU, "
            "then find the Fourier algorithm it learned and the progress measures that predict grokking.",
)
