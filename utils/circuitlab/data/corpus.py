"""An English text corpus that every Python installation already has.

``pydoc_data.topics`` holds the language reference's topics (about 465,000 characters),
and the standard library's docstrings hold more. Nothing is downloaded, so the corpus,
the tokenizer trained on it, and the models trained on those are reproducible offline.
"""
from __future__ import annotations

import hashlib
import importlib
import inspect
import pkgutil
import re
import warnings
from functools import lru_cache
from typing import Iterable

__all__ = ["python_docs_corpus", "corpus_documents", "train_bpe_tokenizer", "corpus_fingerprint"]

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


def train_bpe_tokenizer(vocab_size: int = 2048, include_docstrings: bool = True, name: str = "circuitlab-bpe"):
    """Train a byte-level BPE tokenizer on the corpus and wrap it for TransformerLens.

    Special tokens: ``<|bos|>`` (prepended to every sequence) and ``<|pad|>``.
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
    tokenizer.train_from_iterator(corpus_documents(include_docstrings), trainer=trainer)
    bos_id = tokenizer.token_to_id("<|bos|>")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<|bos|> $A", pair="<|bos|> $A <|bos|> $B", special_tokens=[("<|bos|>", bos_id)]
    )
    return make_tokenizer(tokenizer, name=name, bos="<|bos|>", eos="<|bos|>", pad="<|pad|>")
