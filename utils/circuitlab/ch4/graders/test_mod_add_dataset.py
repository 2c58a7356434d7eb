"""Grader for ch4.mod_add_dataset."""
import torch

from circuitlab.grading.testing import expect, expect_close, expect_tensor, fail, run_learner, seeded, submitted

CASES = [(7, 0.3, 0), (13, 0.5, 1), (3, 0.9, 2), (11, 0.999, 3)]  # smallest p; a cut just below p*p


def _run(p, frac, seed):
    out = run_learner(submitted(), p, frac, seed)
    expect(isinstance(out, (tuple, list)) and len(out) == 4,
           "Return a tuple of four tensors: (tokens, labels, train_indices, test_indices).")
    tokens, labels, train, test = out
    expect_tensor(tokens, shape=(p * p, 3), what="tokens")
    expect_tensor(labels, shape=(p * p,), what="labels")
    for name, t in [("tokens", tokens), ("labels", labels), ("train_indices", train), ("test_indices", test)]:
        expect_tensor(t, what=f"{name} for p={p}")
        expect(t.dtype == torch.long, f"{name} for p={p} has dtype {t.dtype}; the spec asks for torch.long "
               "(int64), which embeddings, indexing and cross_entropy's labels expect on every device."
               + (" Float tensors cannot index rows at all." if t.is_floating_point() else ""))
    return tokens, labels, train, test


def test_tokens_and_labels():
    """every pair a b = appears once, in row a*p + b, with label (a + b) mod p"""
    for p, frac, seed in CASES:
        tokens, labels, _, _ = _run(p, frac, seed)
        a = torch.arange(p).repeat_interleave(p)
        b = torch.arange(p).repeat(p)
        expect(bool((tokens[:, 2] == p).all()),
               f"The third token is '=', which is token p (= {p} here): the input vocabulary is 0..p-1 and then '='.")
        if torch.equal(tokens[:, 0], b) and torch.equal(tokens[:, 1], a):
            fail("Row a*p + b should hold the pair (a, b): a changes slowest. Yours has a and b the other way round.")
        expect(torch.equal(tokens[:, 0], a) and torch.equal(tokens[:, 1], b),
               "Row a*p + b should hold (a, b, p): first token a = row // p, second b = row % p.")
        expect_close(labels, (a + b) % p, what="labels",
                     mistakes={"The labels must be (a + b) mod p; yours are not reduced mod p.": a + b})


def test_split_is_a_partition():
    """train and test are disjoint, cover every pair, and train has int(frac_train * p * p) rows"""
    for p, frac, seed in CASES:
        _, _, train, test = _run(p, frac, seed)
        n_train = int(frac * p * p)
        expect(train.ndim == 1 and test.ndim == 1, "train_indices and test_indices should be 1D tensors of row indices.")
        overlap = set(train.tolist()) & set(test.tolist())
        expect(not overlap, f"The split leaks: {len(overlap)} pairs are in both train and test "
               "(test accuracy would then measure memorisation). Train and test must be disjoint.")
        expect(len(set(train.tolist())) == len(train), "train_indices contains repeated rows: sample without replacement.")
        expect(len(train) == n_train, f"With p={p} and frac_train={frac}, train should have int({frac} * {p * p}) = "
               f"{n_train} rows; yours has {len(train)}.")
        expect(sorted(train.tolist() + test.tolist()) == list(range(p * p)),
               "Together, train and test should contain every row index 0..p*p-1 exactly once.")


def test_split_is_seeded_and_shuffled():
    """the split is random, fixed by the seed, and independent of the global random state"""
    p, frac = 13, 0.3
    with seeded(123):
        first = _run(p, frac, 0)[2]
    with seeded(456):
        again = _run(p, frac, 0)[2]
    other = _run(p, frac, 1)[2]
    expect(sorted(first.tolist()) != list(range(len(first))),
           "The training rows are the first rows of the table (all small a): shuffle before splitting, "
           "or the test set holds pairs the model never saw anything like.")
    expect(torch.equal(first.sort().values, again.sort().values),
           "The same seed gave different splits: the split ignores the seed and depends on the global random "
           "state. Use torch.Generator().manual_seed(seed) (or torch.manual_seed(seed)) before shuffling.")
    expect(not torch.equal(first.sort().values, other.sort().values),
           "Seeds 0 and 1 gave the same split: the seed should choose the shuffle.")
