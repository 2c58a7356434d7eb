"""The setup cell's logic: where the notebook runs, which device, whether the Hub is reachable."""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Any

import torch

_DEVICE: str = "cpu"


def in_colab() -> bool:
    return "google.colab" in sys.modules


DEVICE_TYPES = ("cpu", "cuda", "mps")


def cuda_available() -> bool:
    return torch.cuda.is_available()


def mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return mps is not None and mps.is_available()


def _available(device_type: str) -> bool:
    return {"cpu": True, "cuda": cuda_available(), "mps": mps_available()}[device_type]


def choose_device(preferred: str | None = None) -> tuple[str, str]:
    """The device to use and a note for the learner (empty when the choice needs no comment).

    ``preferred`` ("cpu", "cuda", "cuda:1", "mps") wins when that device exists; one that does not
    exist on this machine falls back to CPU, and the note says so. A name that is no device at all
    raises ValueError: a typo should not silently train on the CPU. Without a preference: CUDA,
    else Apple's MPS, else CPU.
    """
    if preferred:
        name = str(preferred).strip().lower()
        device_type = name.split(":")[0]
        index = name.partition(":")[2]
        if device_type not in DEVICE_TYPES or (index and not (index.isdigit() and device_type == "cuda")):
            raise ValueError(
                f"Unknown device {preferred!r}. Use 'cpu', 'cuda' (or 'cuda:N' for GPU number N) or 'mps', "
                "or leave it out to pick the best available."
            )
        if not _available(device_type):
            return "cpu", f"{name} was asked for but is not available here, so the CPU is used"
        if index and int(index) >= torch.cuda.device_count():
            return "cpu", f"{name} was asked for but this machine has {torch.cuda.device_count()} GPU(s), so the CPU is used"
        return name, ""
    if cuda_available():
        return "cuda", ""
    if mps_available():
        return "mps", ""
    return "cpu", ""


def pick_device(preferred: str | None = None) -> str:
    """``preferred`` if it exists here, else CUDA, else Apple's MPS, else CPU."""
    return choose_device(preferred)[0]


def to_device(value: Any, device: str | torch.device | None = None, *, modules: bool = True) -> Any:
    """``value`` with every tensor (and, if ``modules``, every ``nn.Module``) in it on ``device``
    (default: the one ``setup()`` chose).

    Tensors are copied, never moved in place; modules are moved in place, as ``Module.to`` does.
    Lists, tuples and dicts are rebuilt around the moved tensors; anything else is returned as is.
    Graders use it to hand the learner's code inputs on the learner's own device.
    """
    target = torch.device(device if device is not None else current_device())
    if isinstance(value, torch.Tensor):
        return value if value.device == target else value.to(target)
    if isinstance(value, torch.nn.Module):
        return value.to(target) if modules else value
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # a named tuple keeps its type
        return type(value)(*(to_device(item, target, modules=modules) for item in value))
    if isinstance(value, (list, tuple)):
        return type(value)(to_device(item, target, modules=modules) for item in value)
    if isinstance(value, dict):
        return {key: to_device(item, target, modules=modules) for key, item in value.items()}
    return value


def current_device() -> str:
    """The device chosen by ``setup()`` (CPU until setup is called)."""
    return _DEVICE


@dataclass(frozen=True)
class Environment:
    where: str  # "colab", "binder" or "local"
    device: str
    online: bool
    threads: int
    version: str
    note: str = ""  # why the device differs from the one asked for, if it does
    threads_reason: str = ""  # why this many threads (see circuitlab.threads)

    def line(self) -> str:
        network = "online: GPT-2 small available" if self.online else "offline: shipped models stand in for hub models"
        note = f" ({self.note})" if self.note else ""
        why = f" ({self.threads_reason})" if self.threads_reason else ""
        plural = "thread" if self.threads == 1 else "threads"
        return (f"Circuit Lab {self.version} · {self.where} · device {self.device}{note} · {self.threads} {plural}{why}"
                f" · {network}")


def setup(device: str | None = None, threads: int | None = None, check_network: bool = True,
          quiet: bool = False) -> Environment:
    """Detect the environment, choose the device and the thread count once for the whole notebook, and say so.

    ``threads`` fixes the number of CPU threads; without it ``CIRCUITLAB_THREADS`` or
    ``OMP_NUM_THREADS`` does, and without those one thread per core that other programs leave free
    (:mod:`circuitlab.threads`), so a busy machine is never made slower by a thread that waits.
    """
    global _DEVICE
    from circuitlab import __version__, threads as thread_policy
    from circuitlab.models import hub_is_reachable

    _DEVICE, note = choose_device(device or os.environ.get("CIRCUITLAB_DEVICE"))
    choice = thread_policy.apply(thread_policy.choose_threads(threads))
    where = "colab" if in_colab() else "binder" if os.environ.get("BINDER_SERVICE_HOST") else "local"
    env = Environment(
        where=where,
        device=_DEVICE,
        online=hub_is_reachable() if check_network else False,
        threads=torch.get_num_threads(),
        version=__version__,
        note=note,
        threads_reason=choice.reason,
    )
    if not quiet:
        print(env.line())
    return env
