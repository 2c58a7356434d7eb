"""Indirect object identification (IOI) prompts and the offline IOI training corpus.

An IOI prompt names two people in a first clause, repeats one of them (the subject, S)
in a second clause, and ends where the other one (the indirect object, IO) should come:

    "When Mary and John went to the store, John gave a drink to" -> " Mary"

Two orders exist: ABBA (IO named first: "Mary and John ..., John ...") and BABA (S named
first: "John and Mary ..., John ..."). The counterfactual used for patching is the ABC
corruption: the second mention of S is replaced by a third name C, so nothing in the
prompt says which of the first two names is the answer any more.

The same generator writes the corpus the offline model is trained on. Besides plain IOI
sentences it has *distractor* templates, in which a third name stands next to the
repeated subject ("..., John and Kate gave a drink to" or "..., Kate and John gave a drink
to" -> " Mary"). In those, neither the last name before the end nor the first name of the
second clause is reliably the subject, so position alone no longer says which name to
suppress: the model has to notice which name is repeated.

Text is written naturally (punctuation attached to words), so the same prompt works for
GPT-2's BPE tokenizer and for the word-level tokenizer of the offline model, whose
pre-tokenizer splits punctuation off.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Iterable, Iterator, Sequence

__all__ = [
    "NAMES",
    "HELD_OUT_NAMES",
    "TRAIN_NAMES",
    "PLACES",
    "OBJECTS",
    "TEMPLATES",
    "TRAIN_TEMPLATES",
    "HELD_OUT_TEMPLATES",
    "DISTRACTOR_TEMPLATES",
    "NAME_AFTER_S2_TEMPLATES",
    "NAME_BEFORE_S2_TEMPLATES",
    "IOIPrompt",
    "fill",
    "ioi_prompts",
    "corpus_documents",
    "vocabulary",
]

# Common first names (each a single token for GPT-2 with a leading space; the offline
# model's tokenizer is word-level, so every name is one token there by construction).
NAMES: tuple[str, ...] = (
    "Mary", "John", "Alice", "Bob", "Anna", "James", "Sarah", "David", "Emma", "Michael",
    "Laura", "Daniel", "Kate", "Paul", "Lisa", "Mark", "Rachel", "Peter", "Julia", "Tom",
    "Amy", "Chris", "Emily", "Jack", "Grace", "Sam", "Helen", "Ben", "Lucy", "Adam",
    "Sophie", "Ryan", "Claire", "Luke", "Ruth", "Matt", "Jane", "Eric", "Rose", "Andrew",
    "Karen", "Steve", "Diana", "Kevin", "Susan", "Brian", "Nancy", "Frank", "Linda", "Gary",
    "Alex", "Jason", "Carol", "Scott", "Amanda", "Justin", "Megan", "Jeff", "Hannah", "Tim",
    "Jessica", "Josh", "Maria", "Nick", "Jennifer", "Joe", "Katie", "Dan", "Victoria", "Ian",
    "Ashley", "Greg", "Elizabeth", "Tony", "Rebecca", "Carl", "Jordan", "Leo", "Martin", "Ellen",
    "Henry", "Ray", "Patrick", "Robert", "Nina", "Simon", "Joan", "Roger",
)
# Held out of every IOI sentence of the corpus (they appear in other sentences, so their
# embeddings are trained): generalisation to new names is measured on these.
HELD_OUT_NAMES: tuple[str, ...] = NAMES[-16:]
TRAIN_NAMES: tuple[str, ...] = NAMES[:-16]

PLACES: tuple[str, ...] = (
    "store", "park", "school", "garden", "station", "library", "beach", "market",
    "office", "museum", "hospital", "church", "restaurant", "house", "river", "lake",
)
OBJECTS: tuple[str, ...] = (
    "drink", "book", "ring", "bone", "kiss", "letter", "basket", "necklace",
    "computer", "snack", "hat", "ball", "key", "apple", "card", "pen",
)

# Placeholders: {A} and {B} are the first clause's names in order, {S} the repeated subject,
# {C} a third name (distractor templates only), {P} a place, {O} an object. Every template
# ends just before the answer.
TEMPLATES: tuple[str, ...] = (
    "When {A} and {B} went to the {P}, {S} gave a {O} to",
    "When {A} and {B} got a {O} at the {P}, {S} decided to give it to",
    "Then, {A} and {B} went to the {P}. {S} gave a {O} to",
    "After {A} and {B} went to the {P}, {S} handed a {O} to",
    "While {A} and {B} were working at the {P}, {S} gave a {O} to",
    "Then, {A} and {B} had a long argument, and afterwards {S} said to",
    "Afterwards, {A} and {B} went to the {P}. {S} threw a {O} to",
    "When {A} and {B} arrived at the {P}, {S} passed a {O} to",
    "Friends {A} and {B} found a {O} at the {P}. {S} gave it to",
    "Then, {A} and {B} were thinking about going to the {P}. {S} wanted to give a {O} to",
    "When {A} and {B} met at the {P}, {S} offered a {O} to",
    "Later, {A} and {B} walked to the {P}, and {S} showed a {O} to",
    "The {P} was busy, so {A} and {B} left. {S} then sent a {O} to",
    "Since {A} and {B} were at the {P}, {S} brought a {O} to",
    "When {A} and {B} visited the {P}, {S} sold a {O} to",
    "Yesterday {A} and {B} cleaned the {P}, and {S} returned a {O} to",
    "As {A} and {B} left the {P}, {S} tossed a {O} to",
    "On Monday {A} and {B} went to the {P}, where {S} lent a {O} to",
    "When {A} and {B} were at the {P}, {S} mailed a {O} to",
    "After {A} and {B} had lunch at the {P}, {S} gave the {O} back to",
    # held out of the corpus: generalisation to new sentence frames is measured on these
    "Before {A} and {B} went home from the {P}, {S} brought a {O} to",
    "Once {A} and {B} reached the {P}, {S} handed the {O} over to",
    "When {A} and {B} sat down in the {P}, {S} quietly passed a {O} to",
    "Early today {A} and {B} drove to the {P}, and {S} gave a {O} to",
    "At the {P}, {A} and {B} talked for hours, and then {S} gave a {O} to",
)
TRAIN_TEMPLATES: tuple[str, ...] = TEMPLATES[:20]
HELD_OUT_TEMPLATES: tuple[str, ...] = TEMPLATES[20:]

# Distractor templates put a third name C into the second clause. After S2: the most recent
# name before the end is not the one to suppress. Before S2: S2 is not the first name of the
# second clause either, so neither "suppress the last name" nor "suppress the first name after
# the comma" finds S; recognising the name that was mentioned before does.
NAME_AFTER_S2_TEMPLATES: tuple[str, ...] = (
    "When {A} and {B} went to the {P}, {S} and {C} gave a {O} to",
    "When {A} and {B} arrived at the {P}, {S} told {C} to pass a {O} to",
    "After {A} and {B} went to the {P}, {S} met {C} and handed a {O} to",
    "Then, {A} and {B} went to the {P}. {S} asked {C} to give a {O} to",
    "While {A} and {B} were at the {P}, {S} and {C} sent a {O} to",
    "When {A} and {B} visited the {P}, {S} saw {C} and gave a {O} to",
    "Later, {A} and {B} walked to the {P}, and {S} with {C} showed a {O} to",
    "Since {A} and {B} were at the {P}, {S} called {C} and brought a {O} to",
)
NAME_BEFORE_S2_TEMPLATES: tuple[str, ...] = (
    "When {A} and {B} went to the {P}, {C} and {S} gave a {O} to",
    "After {A} and {B} arrived at the {P}, {C} watched {S} hand a {O} to",
    "Then, {A} and {B} went to the {P}. {C} asked {S} to give a {O} to",
    "While {A} and {B} were at the {P}, {C} saw {S} pass a {O} to",
    "Since {A} and {B} were at the {P}, {C} and {S} brought a {O} to",
    "When {A} and {B} visited the {P}, {C} told {S} to send a {O} to",
)
DISTRACTOR_TEMPLATES: tuple[str, ...] = NAME_AFTER_S2_TEMPLATES + NAME_BEFORE_S2_TEMPLATES


@dataclass(frozen=True)
class IOIPrompt:
    """One IOI prompt: its text, its names, and its ABC-corrupted twin."""

    text: str
    io: str
    s: str
    c: str
    order: str  # "ABBA" (IO first) or "BABA" (S first)
    template: int  # index into the template tuple it came from
    corrupt_text: str  # the same prompt with the second S replaced by C

    @property
    def answer(self) -> str:
        return self.io


def fill(template: str, io: str, s: str, order: str, place: str, obj: str, c: str = "") -> str:
    """Fill a template; ``order`` decides which of IO and S the first clause names first."""
    if order not in ("ABBA", "BABA"):
        raise ValueError(f"order must be 'ABBA' or 'BABA', not {order!r}")
    first, second = (io, s) if order == "ABBA" else (s, io)
    return template.format(A=first, B=second, S=s, C=c, P=place, O=obj)


def _corrupt(template: str, io: str, s: str, c: str, order: str, place: str, obj: str) -> str:
    """ABC corruption: the repeated subject (S2) becomes a third name C."""
    first, second = (io, s) if order == "ABBA" else (s, io)
    return template.format(A=first, B=second, S=c, C=c, P=place, O=obj)


def ioi_prompts(
    n: int,
    *,
    templates: Sequence[str] = TRAIN_TEMPLATES,
    names: Sequence[str] = TRAIN_NAMES,
    seed: int = 0,
    orders: Sequence[str] = ("ABBA", "BABA"),
    balanced: bool = True,
) -> list[IOIPrompt]:
    """``n`` prompts drawn with a fixed seed.

    With ``balanced`` the prompts cycle through templates and orders, so every template
    and both orders are equally represented (convenient for per-template mean ablation).
    Templates with a {C} slot get a third name; the corruption then uses a fourth name.
    """
    rng = random.Random(seed)
    prompts: list[IOIPrompt] = []
    for i in range(n):
        if balanced:
            t = (i // len(orders)) % len(templates)
            order = orders[i % len(orders)]
        else:
            t = rng.randrange(len(templates))
            order = rng.choice(list(orders))
        template = templates[t]
        io, s, c, d = rng.sample(list(names), 4)
        place, obj = rng.choice(PLACES), rng.choice(OBJECTS)
        text = fill(template, io, s, order, place, obj, c=c if "{C}" in template else "")
        if "{C}" in template:
            first, second = (io, s) if order == "ABBA" else (s, io)
            corrupt = template.format(A=first, B=second, S=d, C=c, P=place, O=obj)
        else:
            corrupt = _corrupt(template, io, s, c, order, place, obj)
        prompts.append(IOIPrompt(text, io, s, c, order, t, corrupt))
    return prompts


# --------------------------------------------------------------------------- the corpus

# Sentences that are not IOI but use the same words, so the model cannot treat "two names
# then a repeated name" as a fixed pattern, and held-out names get trained embeddings.
# {X}, {Y}, {Z} are names. None of them ends "... to <name>" after a first clause naming
# two people, which would compete with IOI.
FILLER_TEMPLATES: tuple[str, ...] = (
    "{X} went to the {P}.",
    "{X} liked the {O} very much.",
    "{X} said that {X} was tired.",
    "{X} and {Y} went to the {P} together.",
    "{X} gave a {O} to {Y}.",
    "{X} and {Y} talked, and {X} laughed.",
    "{X} and {Y} talked, and {Y} laughed.",
    "{X} found a {O} at the {P}, and {X} kept it.",
    "{X} was at the {P} with {Y} and {Z}.",
    "{X} sent a {O} to {Y}, and {Y} thanked {X}.",
    "{X} met {Y} at the {P}.",
    "Then, {X} had a long argument with {Y}.",
    "The {O} belonged to {X}.",
    "{X} called {Y}, and {Z} answered.",
    "When {X} arrived at the {P}, {X} bought a {O}.",
    "{X} and {Y} and {Z} sat down in the {P}.",
    "{X} saw {Y} and waved.",
    "Early today {X} drove to the {P} alone.",
    "{X} quietly passed the {P} on the way home.",
    "{X} reached the {P} and sat down.",
    "{X} handed the {O} over and went home from the {P}.",
    "At the {P}, {X} talked for hours.",
    "{X} asked {Y} about the {O}.",
    "{X} told {Y} a story about the {P}.",
    "Once {X} reached the {P}, {X} sat down.",
    "Before {X} went home from the {P}, {X} slept.",
)


def _filler(rng: random.Random, names: Sequence[str]) -> str:
    template = rng.choice(FILLER_TEMPLATES)
    x, y, z = rng.sample(list(names), 3)
    return template.format(X=x, Y=y, Z=z, P=rng.choice(PLACES), O=rng.choice(OBJECTS))


def _ioi_sentence(rng: random.Random, templates: Sequence[str], names: Sequence[str]) -> str:
    template = rng.choice(list(templates))
    io, s, c = rng.sample(list(names), 3)
    order = rng.choice(("ABBA", "BABA"))
    text = fill(template, io, s, order, rng.choice(PLACES), rng.choice(OBJECTS), c=c)
    return f"{text} {io}."


def corpus_documents(
    n_documents: int,
    *,
    seed: int = 0,
    ioi_fraction: float = 0.5,
    distractor_fraction: float = 0.35,
) -> Iterator[str]:
    """Documents of one or two sentences, a fraction of the sentences IOI.

    ``distractor_fraction`` of the IOI sentences use :data:`DISTRACTOR_TEMPLATES`, which
    a model can only complete by noticing which name is repeated.
    """
    rng = random.Random(seed)
    for _ in range(n_documents):
        sentences = []
        for _ in range(rng.choice((1, 2))):
            if rng.random() < ioi_fraction:
                pool = DISTRACTOR_TEMPLATES if rng.random() < distractor_fraction else TRAIN_TEMPLATES
                sentences.append(_ioi_sentence(rng, pool, TRAIN_NAMES))
            else:
                sentences.append(_filler(rng, NAMES))
        yield " ".join(sentences)


def _words(text: str) -> Iterable[str]:
    for raw in text.replace(",", " , ").replace(".", " . ").split():
        yield raw


def vocabulary() -> list[str]:
    """Every word the generator can write (the word-level tokenizer's vocabulary), sorted."""
    words: set[str] = set(NAMES) | set(PLACES) | set(OBJECTS)
    blank = dict(A="", B="", S="", C="", P="", O="", X="", Y="", Z="")
    for template in TEMPLATES + DISTRACTOR_TEMPLATES + FILLER_TEMPLATES:
        words.update(_words(template.format(**blank)))
    return sorted(words)


def with_order(prompts: Sequence[IOIPrompt], order: str) -> list[IOIPrompt]:
    """The prompts of one order only."""
    return [p for p in prompts if p.order == order]

