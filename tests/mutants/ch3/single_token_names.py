"""Mutants and alternatives for ch3.single_token_names."""
from circuitlab.grading.meta import alternative, mutant


@mutant(hint="without a leading space")
def no_space(names, tokenizer):
    return [n for n in names if len(tokenizer.encode(n, add_special_tokens=False)) == 1]


@mutant(hint="BOS token")
def counts_bos(names, tokenizer):
    return [n for n in names if len(tokenizer.encode(" " + n)) == 1]


@mutant(hint="different order")
def sorted_names(names, tokenizer):
    return sorted(n for n in names if len(tokenizer.encode(" " + n, add_special_tokens=False)) == 1)


@mutant(hint="the single-token names are")
def at_most_two(names, tokenizer):
    return [n for n in names if len(tokenizer.encode(" " + n, add_special_tokens=False)) <= 2]


@alternative
def with_tokenize(names, tokenizer):
    return [n for n in names if len(tokenizer.tokenize(" " + n)) == 1]


@alternative
def with_call(names, tokenizer):
    return [n for n in names if len(tokenizer(" " + n, add_special_tokens=False)["input_ids"]) == 1]
