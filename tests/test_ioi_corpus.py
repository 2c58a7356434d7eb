"""The shortcut-free IOI families (circuitlab.data.ioi): every positional shortcut scores near chance on
them, while on the classic templates the same shortcuts are perfect, which is why the families exist.

A shortcut "answers IO" on a prompt when it scores IO above S (ties count one half), so 0.5 is chance
and both 1.0 and 0.0 are perfect shortcuts (0.0: its opposite always works).
"""
from __future__ import annotations

import random
import re

import pytest

from circuitlab.data import ioi

# How far from chance the families allow. With the third name only ever beside the second S (so it is
# never a plausible answer), the least-squares mixture of SHORTCUT_FREE_WEIGHTS leaves every shortcut
# within about 0.11 of 0.5; 4000 prompts add a sampling error of about 0.01.
CHANCE_BAND = 0.12


@pytest.fixture(scope="module")
def shortcut_free():
    return ioi.shortcut_free_prompts(4000, seed=0)


def test_every_shortcut_is_near_chance_on_the_shortcut_free_mixture(shortcut_free):
    table = ioi.shortcut_table(shortcut_free)
    assert set(ioi.SHORTCUTS) < set(table)
    for label in ioi.SHORTCUTS:
        assert abs(table[label] - 0.5) <= CHANCE_BAND, (label, table[label])
    assert table["(the rule: the name mentioned once)"] == 1.0


def test_on_the_classic_templates_the_same_shortcuts_are_perfect():
    table = ioi.shortcut_table(ioi.ioi_prompts(400, seed=0))
    assert table["suppress the second clause"] == 1.0
    assert table["copy the first clause, suppress the second"] == 1.0
    assert table["suppress the most recent name"] == 1.0
    assert table["answer the first name after the comma"] == 0.0  # always S: "avoid it" is perfect
    assert table["copy the first clause"] == 0.5 and table["answer the first name of the prompt"] == 0.5


def test_each_family_moves_the_answer_where_its_layout_says():
    """The layout label is what name_layout reads off the text (IO, S and C in place of the names)."""
    for family in ioi.SHORTCUT_FREE_FAMILIES:
        for prompt in [p for p in ioi.shortcut_free_prompts(300, seed=1) if p.order == family][:20]:
            role = {prompt.io: "IO", prompt.s: "S", prompt.c: "C"}
            layout = ioi.name_layout(prompt.text)
            assert "|".join(" ".join(role[n] for n in clause) for clause in layout.clauses) == family


def test_shortcut_functions_on_one_prompt():
    layout = ioi.name_layout("When John arrived at the store, Mary was waiting, and Kate and John gave a drink to")
    assert layout.clauses == (("John",), ("Mary",), ("Kate", "John"))
    scores = {rule: (fn(layout, "Mary"), fn(layout, "John")) for rule, fn in ioi.SHORTCUTS.items()}
    assert scores["copy the first clause"] == (0.0, 1.0)
    assert scores["suppress the second clause"] == (-1.0, 0.0)
    assert scores["suppress the most recent name"] == (0.0, -1.0)
    assert scores["answer the first name after the comma"] == (1.0, 0.0)
    assert scores["answer the second name after the comma"] == (0.0, 0.0)  # Kate: a tie between Mary and John


def test_shortcut_free_prompts_are_ioi_prompts(shortcut_free):
    for prompt in shortcut_free[:500]:
        words = re.findall(r"\w+", prompt.text)
        assert words.count(prompt.io) == 1 and words.count(prompt.s) == 2 and words.count(prompt.c) <= 1
        # C stands only in the clause that ends at the answer, beside the second S.
        if prompt.c in words:
            assert prompt.c in re.split(r"[,.]", prompt.text)[-1]
        # The corruption changes one word, the second S, into a name the prompt does not contain.
        clean, corrupt = prompt.text.split(), prompt.corrupt_text.split()
        changed = [i for i, (a, b) in enumerate(zip(clean, corrupt)) if a != b]
        assert len(clean) == len(corrupt) and len(changed) == 1
        assert clean[changed[0]] == prompt.s and corrupt[changed[0]] not in words


def test_the_default_corpus_and_vocabulary_do_not_include_the_new_families():
    """The shipped model's corpus and tokenizer are the defaults; the families are opt-in."""
    new_words = set(ioi.vocabulary(shortcut_free=True)) - set(ioi.vocabulary())
    assert {"spotted", "picked", "already"} <= new_words
    default_text = " ".join(ioi.corpus_documents(2000, seed=0))
    assert not any(f" {word} " in default_text for word in new_words)
    vocabulary = set(ioi.vocabulary(shortcut_free=True))
    for document in ioi.corpus_documents(300, seed=0, shortcut_free=True):
        assert set(document.replace(",", " , ").replace(".", " . ").split()) <= vocabulary


# --------------------------------------------------------------------------- repeat signals (train_ioi's search runs)


def _mentions(document: str) -> list[str]:
    return [w for w in document.replace(",", " ").replace(".", " ").split() if w in ioi.NAME_SET]


def test_roll_call_marks_say_again_exactly_after_a_name_seen_before():
    rng = random.Random(0)
    kinds = set()
    for _ in range(300):
        document = ioi.roll_call(rng, ioi.TRAIN_NAMES)
        words = document.replace(",", " ").replace(".", " ").split()
        assert words[0] == "names" and set(_mentions(document)) <= set(ioi.TRAIN_NAMES)
        if "once" in words:
            kinds.add("once")
            answer = words[words.index("once") + 1]
            listed = _mentions(document)[:-1]
            assert listed.count(answer) == 1 and len(listed) in (3, 5)
            assert all(listed.count(name) == 2 for name in listed if name != answer)
        else:
            kinds.add("marks")
            seen = set()
            for name, mark in zip(words[1::2], words[2::2]):
                assert mark == ("again" if name in seen else "new"), document
                seen.add(name)
    assert kinds == {"marks", "once"}


def test_mark_repeats_marks_later_mentions_only_and_keeps_punctuation():
    document = "Mary met John at the park. Later, John gave a book to Mary."
    assert ioi.mark_repeats(document, random.Random(0), 0.0) == document
    assert ioi.mark_repeats(document, random.Random(0), 1.0) == (
        "Mary met John at the park. Later, John again gave a book to Mary again.")
    rates = [ioi.mark_repeats(document, random.Random(seed), 0.5).count("again") for seed in range(400)]
    assert 0.9 < sum(rates) / len(rates) < 1.1  # two later mentions, each marked half the time


def test_maybe_repeated_sentences_repeat_an_earlier_name_two_times_in_three():
    rng = random.Random(0)
    repeats = 0
    for _ in range(3000):
        names = _mentions(ioi.maybe_repeated_sentence(rng))
        assert len(names) == 3 and names[0] != names[1]
        repeats += names[2] in names[:2]
    assert abs(repeats / 3000 - 2 / 3) < 0.03


def test_repeat_signals_are_opt_in_and_their_words_are_in_the_vocabulary():
    assert list(ioi.mixed_corpus_documents(200, seed=3)) == list(
        ioi.mixed_corpus_documents(200, seed=3, roll_call_fraction=0.0, again_probability=0.0,
                                   maybe_repeated_fraction=0.0))
    assert not set(ioi.ROLL_CALL_WORDS) & set(ioi.vocabulary(shortcut_free=True))
    vocabulary = set(ioi.vocabulary(shortcut_free=True, roll_calls=True))
    documents = list(ioi.mixed_corpus_documents(600, seed=0, roll_call_fraction=0.2, again_probability=0.5,
                                                maybe_repeated_fraction=0.5))
    assert any(d.startswith("names ") for d in documents) and any(" again" in d for d in documents)
    for document in documents:
        assert set(document.replace(",", " , ").replace(".", " . ").split()) <= vocabulary
