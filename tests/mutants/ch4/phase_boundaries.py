"""Mutants and alternatives for ch4.phase_boundaries."""
from circuitlab.grading.meta import alternative, mutant


def _boundaries(curves, restricted_threshold=0.1, norm_tolerance=0.01, strict=False, index=False,
                first_within=False, ignore_grokked=False):
    epochs = curves["epoch"]

    def first(key, holds):
        for i, (e, v) in enumerate(zip(epochs, curves[key])):
            if holds(v):
                return i if index else e
        return None

    if strict:
        memorised = first("train_accuracy", lambda v: v > 0.99)
        formed = first("restricted_loss", lambda v: v <= restricted_threshold)
        grokked = first("test_accuracy", lambda v: v > 0.99)
    else:
        memorised = first("train_accuracy", lambda v: v >= 0.99)
        formed = first("restricted_loss", lambda v: v < restricted_threshold)
        grokked = first("test_accuracy", lambda v: v >= 0.99)
    cleaned = None
    if grokked is not None:
        norms = curves["weight_norm"]
        start_epoch = epochs[grokked] if index else grokked
        within = [abs(n - norms[-1]) <= norm_tolerance * abs(norms[-1]) for n in norms]
        for i, e in enumerate(epochs):
            if e < start_epoch and not ignore_grokked:
                continue
            if within[i] if first_within else all(within[i:]):
                cleaned = i if index else e
                break
    return {"memorised": memorised, "formed": formed, "grokked": grokked, "cleaned": cleaned}


@mutant(hint="strict comparisons")
def strict(curves, restricted_threshold=0.1, norm_tolerance=0.01):
    return _boundaries(curves, restricted_threshold, norm_tolerance, strict=True)


@mutant(hint="positions in the lists")
def indices(curves, restricted_threshold=0.1, norm_tolerance=0.01):
    return _boundaries(curves, restricted_threshold, norm_tolerance, index=True)


@mutant(hint="stay within")
def first_within_tolerance(curves, restricted_threshold=0.1, norm_tolerance=0.01):
    return _boundaries(curves, restricted_threshold, norm_tolerance, first_within=True)


@mutant(hint="ignores 'grokked'")
def before_grokking(curves, restricted_threshold=0.1, norm_tolerance=0.01):
    return _boundaries(curves, restricted_threshold, norm_tolerance, ignore_grokked=True)


@mutant(hint="your defaults")
def hard_coded_tolerance(curves, restricted_threshold=0.1, norm_tolerance=0.05):
    return _boundaries(curves, restricted_threshold, norm_tolerance)


@mutant(hint="should be an int")
def float_epochs(curves, restricted_threshold=0.1, norm_tolerance=0.01):
    return {k: (None if v is None else float(v)) for k, v in _boundaries(curves, restricted_threshold,
                                                                          norm_tolerance).items()}


@alternative
def forward_scan(curves, restricted_threshold=0.1, norm_tolerance=0.01):
    """Scans forward, keeping the start of the current run of in-tolerance norms."""
    result = _boundaries(curves, restricted_threshold, norm_tolerance)
    result["cleaned"] = None
    if result["grokked"] is not None:
        last = curves["weight_norm"][-1]
        start = None
        for e, n in zip(curves["epoch"], curves["weight_norm"]):
            if e < result["grokked"]:
                continue
            if abs(n - last) <= norm_tolerance * abs(last):
                start = e if start is None else start
            else:
                start = None
        result["cleaned"] = start
    return result
