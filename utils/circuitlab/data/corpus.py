"""An English text corpus that every Python installation already has.

``pydoc_data.topics`` holds the language reference's topics (about 465,000 characters),
and the standard library's docstrings hold more. Nothing is downloaded, so the corpus,
the tokenizer trained on it, and the models trained on those are reproducible offline.
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import pkgutil
import re
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Iterable

__all__ = ["python_docs_corpus", "corpus_documents", "train_bpe_tokenizer", "corpus_fingerprint", "CORPORA",
           "named_corpus_documents", "named_corpus_fingerprint", "source_documents"]

# Standard-library modules whose docstrings join the corpus. A fixed list (rather than
# everything importable) keeps the corpus identical across machines and Python versions
# as far as the docstrings themselves allow.
STDLIB_MODULES: tuple[str, ...] = (
    "abc", "argparse", "array", "ast", "asyncio", "base64", "bisect", "calendar", "cmath", "collections",
    "configparser", "contextlib", "copy", "csv", "dataclasses", "datetime", "decimal", "difflib", "email",
    "enum", "fnmatch", "fractions", "functools", "getopt", "gettext", "glob", "gzip", "hashlib", "heapq",
    "hmac", "html", "http", "imaplib", "inspect", "io", "ipaddress", "itertools", "json", "locale",
    "logging", "lzma", "mailbox", "math", "mimetypes", "numbers", "operator", "optparse", "os", "pathlib",
    "pickle", "pprint", "queue", "random", "re", "sched", "secrets", "selectors", "shelve", "shlex",
    "shutil", "signal", "smtplib", "socket", "sqlite3", "statistics", "string", "struct", "subprocess",
    "tarfile", "tempfile", "textwrap", "threading", "time", "timeit", "tokenize", "trace", "traceback",
    "types", "typing", "unittest", "urllib", "uuid", "warnings", "weakref", "xml", "zipfile", "zlib",
)


def _clean(text: str) -> str:
    text = text.replace("\r\n", "\n")
    text = re.sub(r"[ \t]+", " ", text)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip()


def _topic_documents() -> list[str]:
    from pydoc_data import topics

    return [_clean(topics.topics[name]) for name in sorted(topics.topics)]


def _docstrings(module_names: Iterable[str]) -> list[str]:
    documents: list[str] = []
    seen: set[str] = set()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in module_names:
            try:
                module = importlib.import_module(name)
            except Exception:  # a module missing on this platform is simply skipped
                continue
            objects = [module] + [obj for _, obj in sorted(vars(module).items()) if inspect.isclass(obj) or inspect.isfunction(obj)]
            for obj in objects:
                if getattr(obj, "__module__", name) not in (name, None) and obj is not module:
                    continue  # re-exported from elsewhere: counted where it is defined
                doc = inspect.getdoc(obj)
                if doc and len(doc) > 80 and doc not in seen:
                    seen.add(doc)
                    documents.append(_clean(doc))
    return documents


@lru_cache(maxsize=2)
def corpus_documents(include_docstrings: bool = True) -> tuple[str, ...]:
    """The corpus as a tuple of documents (topics first, then docstrings), in a fixed order."""
    documents = _topic_documents()
    if include_docstrings:
        documents += _docstrings(STDLIB_MODULES)
    return tuple(d for d in documents if d)


def python_docs_corpus(include_docstrings: bool = True) -> str:
    """The whole corpus as one string, documents separated by blank lines."""
    return "\n\n".join(corpus_documents(include_docstrings))


def corpus_fingerprint(include_docstrings: bool = True) -> str:
    """A short hash of the corpus, stored with trained models so a changed corpus is noticed."""
    return hashlib.sha256(python_docs_corpus(include_docstrings).encode()).hexdigest()[:12]


def train_bpe_tokenizer(vocab_size: int = 2048, include_docstrings: bool = True, name: str = "circuitlab-bpe",
                        corpus: str | None = None):
    """Train a byte-level BPE tokenizer on the corpus and wrap it for TransformerLens.

    ``corpus`` names one of ``CORPORA`` to train on instead of the default corpus (``None``: the
    Python-docs corpus, with or without docstrings as ``include_docstrings`` says; the shipped models'
    tokenizers were trained so). Special tokens: ``<|bos|>`` (prepended to every sequence) and ``<|pad|>``.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    from circuitlab.models import make_tokenizer

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<|bos|>", "<|pad|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    documents = corpus_documents(include_docstrings) if corpus is None else named_corpus_documents(corpus)
    tokenizer.train_from_iterator(documents, trainer=trainer)
    bos_id = tokenizer.token_to_id("<|bos|>")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<|bos|> $A", pair="<|bos|> $A <|bos|> $B", special_tokens=[("<|bos|>", bos_id)]
    )
    return make_tokenizer(tokenizer, name=name, bos="<|bos|>", eos="<|bos|>", pad="<|pad|>")


# --------------------------------------------------------------------------- a larger corpus: the source text too
#
# The standard library's own source files (the modules of ``STDLIB_MODULES``; a package's every
# ``.py`` file, its test suites left out) add about 4.8 MB of text to the 0.9 MB above. Code and its
# comments repeat their identifiers within a few lines, which is what makes copying from context pay.
# The files are read, never imported, and taken in a fixed (sorted) order; the text still depends on
# the Python version, which is why a model trained on it records ``named_corpus_fingerprint``.

SKIPPED_SOURCE_DIRECTORIES = frozenset({"test", "tests", "idle_test", "__pycache__"})


def _module_source_files(name: str) -> list[Path]:
    """The ``.py`` files of one standard-library module or package, sorted; none for a built-in module."""
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
        return []  # built into the interpreter (itertools, time) or an extension module: no source text
    if not spec.submodule_search_locations:
        return [Path(spec.origin)]
    files: list[Path] = []
    for root in spec.submodule_search_locations:
        for path in sorted(Path(root).rglob("*.py")):
            if not SKIPPED_SOURCE_DIRECTORIES.intersection(path.relative_to(root).parts[:-1]):
                files.append(path)
    return files


def source_documents(module_names: Iterable[str] = STDLIB_MODULES) -> list[str]:
    """One document per source file of the given standard-library modules, in a fixed order."""
    documents = []
    for name in module_names:
        for path in _module_source_files(name):
            text = _clean(path.read_text(encoding="utf-8", errors="replace"))
            if text:
                documents.append(text)
    return documents


# Corpus name -> what it holds. "pydocs" is the default corpus above (the shipped models' corpus).
CORPORA: dict[str, str] = {
    "pydocs": "the language reference's topics and the docstrings of STDLIB_MODULES",
    "pydocs+source": "pydocs, then the source files of STDLIB_MODULES (tests left out)",
}


@lru_cache(maxsize=4)
def named_corpus_documents(corpus: str = "pydocs") -> tuple[str, ...]:
    """The documents of a corpus named in ``CORPORA``, in a fixed order."""
    if corpus not in CORPORA:
        raise ValueError(f"unknown corpus {corpus!r}; choose one of {sorted(CORPORA)}")
    documents = corpus_documents()
    if corpus == "pydocs+source":
        documents = documents + tuple(source_documents())
    return documents


def named_corpus_fingerprint(corpus: str = "pydocs") -> str:
    """A short hash of a named corpus (for "pydocs" the same as ``corpus_fingerprint()``)."""
    return hashlib.sha256("\n\n".join(named_corpus_documents(corpus)).encode()).hexdigest()[:12]
