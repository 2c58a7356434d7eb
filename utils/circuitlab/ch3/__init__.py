"""Chapter 3: indirect object identification."""
from circuitlab.grading.registry import Chapter

CHAPTER = Chapter(
    number=3,
    slug="03_ioi",
    title="Indirect object identification: find, test and break a circuit",
    paper="Wang, Variengien, Conmy, Shlegeris & Steinhardt (2022), Interpretability in the Wild: "
    "a Circuit for Indirect Object Identification in GPT-2 small",
    hours=3.5,
    prerequisites=["chapter 0 (tools)", "chapter 2 (induction heads: hooks, attention patterns, logit attribution)"],
    summary="Measure, patch, path-patch and validate the circuit a transformer uses to name the indirect object.",
)
