"""Mutants and alternatives for ch3.single_token_names."""
from circuitlab.grading.meta import alternative, mutant


def _known_single(tokenizer, text):
    ids = tokenizer.encode(text, add_special_tokens=False)
    return len(ids) == 1 and ids[0] != tokenizer.unk_token_id


@mutant(hint="without a leading space")
def no_space(names, tokenizer):
    return [n for n in names if _known_single(tokenizer, n)]


@mutant(hint="unknown token")
def keeps_unknown_names(names, tokenizer):
    return [n for n in names if len(tokenizer.encode(" " + n, add_special_tokens=False)) == 1]


@mutant(hint="the single-token names are")
def substring_of_a_vocabulary_entry(names, tokenizer):
    # Looks names up by substring in the vocabulary: Ann matches the entry for Anna.
    vocab = [token.lstrip("\u0120") for token in tokenizer.get_vocab()]
    return [n for n in names if any(n in token and len(token) <= len(n) + 3 for token in vocab)]


@mutant(hint="repeats included")
def drops_repeats(names, tokenizer):
    return list(dict.fromkeys(n for n in names if _known_single(tokenizer, " " + n)))


@mutant(hint="BOS token")
def counts_bos(names, tokenizer):
    return [n for n in names if len(tokenizer.encode(" " + n)) == 1 and tokenizer.encode(" " + n)[0] != tokenizer.unk_token_id]


@mutant(hint="different order")
def sorted_names(names, tokenizer):
    return sorted(n for n in names if _known_single(tokenizer, " " + n))


@mutant(hint="the single-token names are")
def at_most_two(names, tokenizer):
    return [n for n in names if len(tokenizer.encode(" " + n, add_special_tokens=False)) <= 2]


@alternative
def with_tokenize(names, tokenizer):
    return [n for n in names if len(tokenizer.tokenize(" " + n)) == 1 and tokenizer.tokenize(" " + n)[0] != tokenizer.unk_token]


@alternative
def with_call(names, tokenizer):
    def known_single(name):
        ids = tokenizer(" " + name, add_special_tokens=False)["input_ids"]
        return len(ids) == 1 and ids != [tokenizer.unk_token_id]
    return [n for n in names if known_single(n)]


@alternative
def with_convert_tokens_to_ids(names, tokenizer):
    """Round trip: the one piece must map back to an id other than the unknown one."""
    kept = []
    for name in names:
        pieces = tokenizer.tokenize(" " + name)
        if len(pieces) == 1 and tokenizer.convert_tokens_to_ids(pieces[0]) not in (None, tokenizer.unk_token_id):
            kept.append(name)
    return kept
