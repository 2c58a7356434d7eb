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
import re
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
    "SHORTCUT_FREE_FAMILIES",
    "NAME_SET",
    "ROLL_CALL_WORDS",
    "roll_call",
    "mark_repeats",
    "MAYBE_REPEATED_TEMPLATES",
    "maybe_repeated_sentence",
    "SHORTCUT_FREE_TEMPLATES",
    "shortcut_free_prompts",
    "SHORTCUTS",
    "name_layout",
    "shortcut_accuracy",
    "shortcut_table",
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
NAME_SET: frozenset[str] = frozenset(NAMES)
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
    shortcut_free: bool = False,
) -> Iterator[str]:
    """Documents of one or two sentences, a fraction of the sentences IOI.

    ``distractor_fraction`` of the IOI sentences use :data:`DISTRACTOR_TEMPLATES`, which
    a model can only complete by noticing which name is repeated. With ``shortcut_free``
    (opt-in, for a future model) every IOI sentence comes from :func:`shortcut_free_prompts`
    instead, and ``distractor_fraction`` is not used; the default corpus is unchanged.
    """
    rng = random.Random(seed)
    for _ in range(n_documents):
        sentences = []
        for _ in range(rng.choice((1, 2))):
            if rng.random() < ioi_fraction:
                if shortcut_free:
                    prompt = shortcut_free_prompts(1, names=TRAIN_NAMES, seed=rng.randrange(2**31))[0]
                    sentences.append(f"{prompt.text} {prompt.io}.")
                else:  # the default corpus: the same draws, in the same order, as before the option existed
                    pool = DISTRACTOR_TEMPLATES if rng.random() < distractor_fraction else TRAIN_TEMPLATES
                    sentences.append(_ioi_sentence(rng, pool, TRAIN_NAMES))
            else:
                sentences.append(_filler(rng, NAMES))
        yield " ".join(sentences)


# --------------------------------------------------------------------------- roll calls: duplicate detection alone
#
# IOI never *needs* a duplicate detector: the subject of the giving clause is always S, so a model can find S2
# by its place in the sentence and push that name down. GPT-2 small detects duplicates anyway because its
# training text rewards it everywhere. Roll calls are documents that reward it in this corpus, with no sentence
# frame to lean on: a list of names in which only a name's earlier mentions say what comes next.
#   marks: "names Mary new , John new , Mary again , Kate new ."  (is this mention the first?)
#   once:  "names Mary , John , Mary , once John ."               (which name was mentioned only once?)
# In the marks the next word after a name is "again" exactly when that name came before (a duplicate-token
# head's signal); in the once lists the answer is IOI's rule without the sentence: one name stands once, the
# others twice, in any order.
ROLL_CALL_WORDS: tuple[str, ...] = ("names", "new", "again", "once")


# Sentences in which the last name is an earlier one or a new one, a third each: only the names before it say
# whether it repeats, so with "again" marks (mark_repeats) its continuation needs a duplicate detector inside a
# sentence, which roll calls alone do not give (a model can keep that skill for lists only).
MAYBE_REPEATED_TEMPLATES: tuple[str, ...] = (
    "{X} and {Y} were at the {P}, and then {Z} left.",
    "{X} met {Y} at the {P}. Later, {Z} went home.",
    "{X} talked to {Y} at the {P}, and {Z} waved.",
)


def maybe_repeated_sentence(rng: random.Random, names: Sequence[str] = NAMES) -> str:
    """A :data:`MAYBE_REPEATED_TEMPLATES` sentence whose last name is X, Y or a new name, equally often."""
    x, y, new = rng.sample(list(names), 3)
    return rng.choice(MAYBE_REPEATED_TEMPLATES).format(X=x, Y=y, Z=rng.choice((x, y, new)), P=rng.choice(PLACES))


def roll_call(rng: random.Random, names: Sequence[str] = NAMES) -> str:
    """One roll-call document (marks or once list, equally often), names drawn from ``names``."""
    if rng.random() < 0.5:
        distinct = rng.sample(list(names), rng.randint(2, 4))
        mentions = distinct + [rng.choice(distinct) for _ in range(rng.randint(1, 3))]
        rng.shuffle(mentions)
        seen: set[str] = set()
        marked = []
        for name in mentions:
            marked.append(f"{name} {'again' if name in seen else 'new'}")
            seen.add(name)
        return "names " + " , ".join(marked) + " ."
    repeated_count = rng.randint(1, 2)
    chosen = rng.sample(list(names), repeated_count + 1)
    once, repeated = chosen[0], chosen[1:]
    mentions = [once] + repeated * 2
    rng.shuffle(mentions)
    return "names " + " , ".join(mentions) + f" , once {once} ."


def mark_repeats(document: str, rng: random.Random, probability: float) -> str:
    """``document`` with " again" written after a name's later mentions, each with ``probability``.

    A sentence, unlike a roll call, never says that a name is repeated; with these marks the word after a
    repeated name (S2 in an IOI sentence) depends on whether that name came before, in every kind of sentence.
    A mention followed by a comma or a full stop keeps it next to the name (the mark goes before it).
    """
    seen: set[str] = set()
    words = []
    for word in document.split(" "):
        name = word.rstrip(",.")
        words.append(word)
        if name in NAME_SET:
            if name in seen and rng.random() < probability:
                words[-1] = name + " again" + word[len(name):]
            seen.add(name)
    return " ".join(words)


def _words(text: str) -> Iterable[str]:
    for raw in text.replace(",", " , ").replace(".", " . ").split():
        yield raw


def vocabulary(shortcut_free: bool = False, roll_calls: bool = False) -> list[str]:
    """Every word the generator can write (the word-level tokenizer's vocabulary), sorted.

    ``shortcut_free`` adds the words of :data:`SHORTCUT_FREE_TEMPLATES` (for a model trained with
    ``corpus_documents(shortcut_free=True)``) and ``roll_calls`` the words of :func:`roll_call`,
    :func:`mark_repeats` and :data:`MAYBE_REPEATED_TEMPLATES`; the default list is the shipped tokenizer's.
    """
    words: set[str] = set(NAMES) | set(PLACES) | set(OBJECTS) | (set(ROLL_CALL_WORDS) if roll_calls else set())
    blank = dict(A="", B="", S="", C="", P="", O="", X="", Y="", Z="", IO="", S1="", S2="")
    extra = (SHORTCUT_FREE_TEMPLATES if shortcut_free else ()) + (MAYBE_REPEATED_TEMPLATES if roll_calls else ())
    for template in TEMPLATES + DISTRACTOR_TEMPLATES + FILLER_TEMPLATES + extra:
        words.update(_words(template.format(**blank)))
    return sorted(words)


def with_order(prompts: Sequence[IOIPrompt], order: str) -> list[IOIPrompt]:
    """The prompts of one order only."""
    return [p for p in prompts if p.order == order]



# --------------------------------------------------------------------------- a corpus without shortcuts
#
# In every template above, the first clause names IO and S and the second clause repeats S. A model can
# then answer "a name of the first clause that the second clause does not repeat", or "not the most
# recent name", without detecting which name is repeated. The families below move the answer around:
# into its own middle clause, alone into the first clause, or to the most recent name before the end,
# so each such shortcut is right on some prompts and wrong on others, while "the name mentioned only
# once" is always right. A third name C stands only beside the second S, as a co-subject of the final
# verb, so it is never a plausible recipient. These templates are opt-in (``shortcut_free=True`` in
# :func:`corpus_documents` and :func:`vocabulary`): the shipped model and its tokenizer do not use them.
#
# Placeholders: {IO}, {S1} and {S2} (the subject's two mentions), {C}, {P}, {O}. Each family is named by
# its layout: the names of each clause in order, clauses separated by "|".

SHORTCUT_FREE_FAMILIES: dict[str, tuple[str, ...]] = {
    # The answer alone in the middle clause; S before and after it.
    "S|IO|S C": (
        "When {S1} arrived at the {P}, {IO} was already there, and {S2} and {C} gave a {O} to",
        "After {S1} got to the {P}, {IO} came in, so {S2} and {C} handed a {O} to",
        "As {S1} walked into the {P}, {IO} waved, and {S2} and {C} brought a {O} to",
    ),
    "S|IO|C S": (
        "When {S1} arrived at the {P}, {IO} was waiting, and {C} and {S2} passed a {O} to",
        "After {S1} reached the {P}, {IO} sat down, so {C} and {S2} sent a {O} to",
    ),
    # The answer alone in the first clause; both mentions of S later.
    "IO|S|S C": (
        "After {IO} left the {P}, {S1} found a {O}, and {S2} and {C} sent it to",
        "While {IO} was at the {P}, {S1} bought a {O}, and later {S2} and {C} mailed it to",
    ),
    "IO|S|C S": (
        "When {IO} went home from the {P}, {S1} picked up a {O}, and {C} and {S2} returned it to",
        "Once {IO} had left the {P}, {S1} spotted a {O}, so {C} and {S2} took it to",
    ),
    # The answer is the most recent name; the first clause names only S.
    "S|S IO": (
        "When {S1} arrived at the {P}, {S2} met {IO} and gave a {O} to",
        "After {S1} reached the {P}, {S2} saw {IO} and handed a {O} to",
        "As {S1} left the {P}, {S2} ran into {IO} and passed a {O} to",
    ),
}
# How often each family is drawn. Chosen (by a small least-squares search over the families' heuristic
# scores) so that every shortcut in SHORTCUTS scores as close to chance as these families allow; the
# classic two-name-first-clause layouts enter through the distractor templates ("IO S|S C" / "S IO|S C").
SHORTCUT_FREE_WEIGHTS: dict[str, float] = {
    "S|IO|S C": 0.26, "S|IO|C S": 0.14, "IO|S|S C": 0.12, "IO|S|C S": 0.24, "S|S IO": 0.17, "distractor": 0.07,
}
# The distractor share uses only the templates where C is a co-subject ("S and C gave a O to"), never a recipient.
CO_SUBJECT_TEMPLATES: tuple[str, ...] = tuple(t for t in NAME_AFTER_S2_TEMPLATES if "{S} and {C}" in t)
SHORTCUT_FREE_TEMPLATES: tuple[str, ...] = tuple(t for family in SHORTCUT_FREE_FAMILIES.values() for t in family)


def _family_prompt(rng: random.Random, family: str, names: Sequence[str]) -> IOIPrompt:
    template = rng.choice(SHORTCUT_FREE_FAMILIES[family])
    io, s, c, d = rng.sample(list(names), 4)
    slots = dict(IO=io, S1=s, C=c, P=rng.choice(PLACES), O=rng.choice(OBJECTS))
    text = template.format(S2=s, **slots)
    corrupt = template.format(S2=d, **slots)  # S2 becomes a name the prompt does not contain
    return IOIPrompt(text, io, s, c, family, SHORTCUT_FREE_TEMPLATES.index(template), corrupt)


def shortcut_free_prompts(n: int, *, names: Sequence[str] = TRAIN_NAMES, seed: int = 0) -> list[IOIPrompt]:
    """``n`` prompts drawn from the shortcut-free mixture (families by :data:`SHORTCUT_FREE_WEIGHTS`).

    ``order`` holds the family's layout (for example ``"S|IO|S C"``), or ABBA/BABA for distractor prompts.
    """
    rng = random.Random(seed)
    families, weights = zip(*SHORTCUT_FREE_WEIGHTS.items())
    prompts = []
    for _ in range(n):
        family = rng.choices(families, weights=weights)[0]
        if family == "distractor":
            prompts += ioi_prompts(1, templates=CO_SUBJECT_TEMPLATES, names=names, seed=rng.randrange(2**31),
                                   balanced=False)
        else:
            prompts.append(_family_prompt(rng, family, names))
    return prompts


# --------------------------------------------------------------------------- shortcuts, measured
#
# Each shortcut scores a candidate name from where it stands in the prompt; it "answers IO" on a prompt
# when it scores IO above S (a tie counts as half: a coin flip). Clauses are split at "," and "."; the
# first clause is the first one that names anybody.


@dataclass(frozen=True)
class NameLayout:
    """The names of a prompt, clause by clause (clauses that name nobody are left out)."""

    clauses: tuple[tuple[str, ...], ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for clause in self.clauses for name in clause)

    @property
    def after_first_clause(self) -> tuple[str, ...]:
        return tuple(name for clause in self.clauses[1:] for name in clause)


def name_layout(text: str, names: Iterable[str] = NAMES) -> NameLayout:
    """Where the names of ``text`` stand, clause by clause."""
    known = set(names)
    clauses = [tuple(w for w in clause.split() if w in known) for clause in re.split(r"[,.]", text)]
    return NameLayout(tuple(c for c in clauses if c))


def copy_first_clause(layout: NameLayout, name: str) -> float:
    return float(name in layout.clauses[0])


def suppress_second_clause(layout: NameLayout, name: str) -> float:
    return -float(len(layout.clauses) > 1 and name in layout.clauses[1])


def copy_first_suppress_second(layout: NameLayout, name: str) -> float:
    return copy_first_clause(layout, name) + suppress_second_clause(layout, name)


def suppress_most_recent_name(layout: NameLayout, name: str) -> float:
    return -float(layout.names[-1] == name)


def first_name_after_the_comma(layout: NameLayout, name: str) -> float:
    after = layout.after_first_clause
    return float(len(after) > 0 and after[0] == name)


def second_name_after_the_comma(layout: NameLayout, name: str) -> float:
    after = layout.after_first_clause
    return float(len(after) > 1 and after[1] == name)


def first_name_of_the_prompt(layout: NameLayout, name: str) -> float:
    return float(layout.names[0] == name)


def name_mentioned_once(layout: NameLayout, name: str) -> float:
    """Not a shortcut: the rule IOI asks for (the repeated name is the subject). Always right."""
    return -float(layout.names.count(name))


SHORTCUTS = {
    "copy the first clause": copy_first_clause,
    "suppress the second clause": suppress_second_clause,
    "copy the first clause, suppress the second": copy_first_suppress_second,
    "suppress the most recent name": suppress_most_recent_name,
    "answer the first name after the comma": first_name_after_the_comma,
    "answer the second name after the comma": second_name_after_the_comma,
    "answer the first name of the prompt": first_name_of_the_prompt,
}


def shortcut_accuracy(shortcut, prompts: Sequence[IOIPrompt]) -> float:
    """How often ``shortcut`` picks IO over S on ``prompts`` (ties count one half)."""
    def outcome(prompt: IOIPrompt) -> float:
        layout = name_layout(prompt.text)
        io, s = shortcut(layout, prompt.io), shortcut(layout, prompt.s)
        return 1.0 if io > s else 0.0 if io < s else 0.5

    return sum(outcome(p) for p in prompts) / len(prompts)


def shortcut_table(prompts: Sequence[IOIPrompt]) -> dict[str, float]:
    """Every shortcut's accuracy on ``prompts``, and the rule IOI asks for, last."""
    table = {label: shortcut_accuracy(rule, prompts) for label, rule in SHORTCUTS.items()}
    table["(the rule: the name mentioned once)"] = shortcut_accuracy(name_mentioned_once, prompts)
    return table


# --------------------------------------------------------------------------- shortcut-free frames held out of training
#
# One new sentence frame per family, never written into any corpus: a shortcut-free model's generalisation to
# new frames is measured on these (with HELD_OUT_NAMES for new names too). Their words all come from the
# vocabulary the families already use, so a model trained on the families knows every token, but no frame
# below (and no filler sentence) puts those words in this order.
SHORTCUT_FREE_HELD_OUT_FAMILIES: dict[str, tuple[str, ...]] = {
    "S|IO|S C": ("Before {S1} went home from the {P}, {IO} arrived, and {S2} and {C} passed a {O} to",),
    "S|IO|C S": ("While {S1} was at the {P}, {IO} came in, so {C} and {S2} brought a {O} to",),
    "IO|S|S C": ("Before {IO} went home from the {P}, {S1} picked up a {O}, and later {S2} and {C} sent it to",),
    "IO|S|C S": ("As {IO} walked into the {P}, {S1} bought a {O}, so {C} and {S2} mailed it to",),
    "S|S IO": ("Once {S1} reached the {P}, {S2} met {IO} and sent a {O} to",),
}
SHORTCUT_FREE_HELD_OUT_TEMPLATES: tuple[str, ...] = tuple(
    t for family in SHORTCUT_FREE_HELD_OUT_FAMILIES.values() for t in family)


def family_prompts(n: int, families: dict[str, tuple[str, ...]] = SHORTCUT_FREE_FAMILIES, *,
                   names: Sequence[str] = TRAIN_NAMES, seed: int = 0) -> list[IOIPrompt]:
    """``n`` prompts cycling through the families of ``families`` (equal shares, unlike the weighted mixture).

    ``order`` holds the family's layout and ``template`` the frame's index in its own family dict's
    flattened tuple, so per-family and per-template groups can be read off the prompts.
    """
    rng = random.Random(seed)
    flat = [t for family in families.values() for t in family]
    labels = list(families)
    prompts = []
    for i in range(n):
        family = labels[i % len(labels)]
        template = rng.choice(families[family])
        io, s, c, d = rng.sample(list(names), 4)
        slots = dict(IO=io, S1=s, C=c, P=rng.choice(PLACES), O=rng.choice(OBJECTS))
        prompts.append(IOIPrompt(template.format(S2=s, **slots), io, s, c, family, flat.index(template),
                                 template.format(S2=d, **slots)))
    return prompts


def mixed_corpus_documents(n_documents: int, *, seed: int = 0, ioi_fraction: float = 0.5,
                           classic_fraction: float = 0.3, distractor_fraction: float = 0.35,
                           roll_call_fraction: float = 0.0, again_probability: float = 0.0,
                           maybe_repeated_fraction: float = 0.0) -> Iterator[str]:
    """A shortcut-free corpus with classic IOI sentences mixed in (for a model that must solve both).

    Of the IOI sentences, ``classic_fraction`` come from the classic training templates (``distractor_fraction``
    of those from :data:`DISTRACTOR_TEMPLATES`), the rest from :func:`shortcut_free_prompts`. Only
    :data:`TRAIN_NAMES` stand in IOI sentences, and no frame of :data:`SHORTCUT_FREE_HELD_OUT_FAMILIES` or
    :data:`HELD_OUT_TEMPLATES` is ever written. With ``classic_fraction=0`` this is
    ``corpus_documents(..., shortcut_free=True)`` with different draws. ``roll_call_fraction`` of the
    documents are :func:`roll_call` lists instead, and with ``again_probability`` a later mention of a name is
    followed by "again" (:func:`mark_repeats`); ``maybe_repeated_fraction`` of the filler sentences are
    :func:`maybe_repeated_sentence`; at 0, the defaults, the draws are those of the shipped
    shortcut-free model's corpus.
    """
    rng = random.Random(seed)
    roll_rng = random.Random(seed + 7919)  # its own stream, so the sentences keep their draws
    for _ in range(n_documents):
        if roll_call_fraction and roll_rng.random() < roll_call_fraction:
            yield roll_call(roll_rng, TRAIN_NAMES)  # held-out names stay out of every task, as in the IOI sentences
            continue
        sentences = []
        for _ in range(rng.choice((1, 2))):
            if rng.random() >= ioi_fraction:
                if maybe_repeated_fraction and roll_rng.random() < maybe_repeated_fraction:
                    sentences.append(maybe_repeated_sentence(roll_rng))
                else:
                    sentences.append(_filler(rng, NAMES))
            elif rng.random() < classic_fraction:
                pool = DISTRACTOR_TEMPLATES if rng.random() < distractor_fraction else TRAIN_TEMPLATES
                sentences.append(_ioi_sentence(rng, pool, TRAIN_NAMES))
            else:
                prompt = shortcut_free_prompts(1, names=TRAIN_NAMES, seed=rng.randrange(2**31))[0]
                sentences.append(f"{prompt.text} {prompt.io}.")
        document = " ".join(sentences)
        yield mark_repeats(document, roll_rng, again_probability) if again_probability else document
