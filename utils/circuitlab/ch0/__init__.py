"""Chapter 0: tools of the trade (einops, einsum, plotly, circuitsvis, and the grader itself)."""
from circuitlab.grading.registry import Chapter

CHAPTER = Chapter(
    number=0,
    slug="00_tools",
    title="Tools of the trade",
    paper="No paper: the notation used by every later chapter",
    hours=1.0,
    prerequisites=["Python and basic PyTorch (tensors, indexing, broadcasting)"],
    summary="einops and einsum on attention-shaped tensors, plotly and circuitsvis views, and how checks work.",
)
