"""Chapter 1: a GPT-2-style transformer from scratch, equal to TransformerLens, trained and sampled on a CPU."""
from circuitlab.grading.registry import Chapter

CHAPTER = Chapter(
    number=1,
    slug="01_transformer_from_scratch",
    title="Transformer from scratch",
    paper="Radford et al. (2019), Language Models are Unsupervised Multitask Learners (GPT-2); "
          "Elhage et al. (2021), A Mathematical Framework for Transformer Circuits",
    hours=3.5,
    prerequisites=["chapter 0 (einops, einsum, checks)", "PyTorch modules and autograd",
                   "softmax and cross-entropy"],
    summary="A GPT-2-style decoder built part by part, proved equal to TransformerLens, trained on Python's "
            "own documentation and sampled five ways.",
)
