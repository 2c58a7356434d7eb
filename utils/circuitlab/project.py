"""Where the project lives. The repository's address is written here and nowhere else;
Colab links, Binder links and the Colab install line are generated from it."""
from __future__ import annotations

REPOSITORY = "circuit-lab/circuit-lab"  # GitHub owner/name
REF = "main"  # the branch or tag notebooks link to and install from (a release tag pins a class)


def github_url() -> str:
    return f"https://github.com/{REPOSITORY}"


def colab_url(path_in_repo: str) -> str:
    return f"https://colab.research.google.com/github/{REPOSITORY}/blob/{REF}/{path_in_repo}"


def docs_url(path_in_repo: str) -> str:
    """A link to a file of the repository that works from Colab as well as on GitHub."""
    return f"{github_url()}/blob/{REF}/{path_in_repo}"


def binder_url(path_in_repo: str | None = None) -> str:
    url = f"https://mybinder.org/v2/gh/{REPOSITORY}/{REF}"
    return url + (f"?labpath={path_in_repo}" if path_in_repo else "")


def install_spec() -> str:
    """What Colab's setup cell installs: the package at the same ref as the notebook."""
    return f"circuitlab @ git+{github_url()}@{REF}"
