"""Chapter 0: tools of the trade (einops, einsum, plotly, circuitsvis, the grader itself, gather and a stable softmax)."""
from circuitlab.grading.registry import Chapter

CHAPTER = Chapter(
    number=0,
    slug="00_tools",
    title="Tools of the trade",
    paper="No paper: the notation used by every later chapter",
    hours=2.0,
    prerequisites=["Python and basic PyTorch (tensors, indexing, broadcasting)"],
    summary="einops and einsum on attention-shaped tensors, plotly and circuitsvis views, how checks work, "
            "and gather, logsumexp, log-softmax and cross-entropy by hand.",
)
