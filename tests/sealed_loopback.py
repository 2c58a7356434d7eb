"""The sealed grading channel without a kernel process: the kernel's half runs in this process.

Everything else is the real thing: arguments are encoded as data, the student's object is reached
through the same requests, results are decoded strictly and joined to autograd, and lent objects
are mirrored back. Used to hold every grader to the sealed path quickly, exercise by exercise."""
from __future__ import annotations

import base64
import json
from typing import Any

from circuitlab.course import bridge
from circuitlab.course.kernel_side import _CircuitLabBridge


class LoopbackKernel:
    """Stands for ``KernelSession``: requests go to a kernel-side bridge in this process."""

    def __init__(self, namespace: dict[str, Any]) -> None:
        self.bridge = _CircuitLabBridge(namespace)

    def request(self, message: dict[str, Any], limit: float) -> dict[str, Any]:
        text = base64.b64encode(json.dumps(message).encode()).decode()
        return json.loads(base64.b64decode(self.bridge.request(text)))

    def alive(self) -> bool:
        return True


class Loopback:
    """A kernel-side bridge in this process and the channel to it, kept across checks (as within one exercise,
    where the kernel keeps the models it was sent)."""

    def __init__(self, call_limit: float = 120) -> None:
        self.kernel = LoopbackKernel({})
        self.channel = bridge.Channel(self.kernel, call_limit=call_limit)

    def check(self, exercise: str, handed_in: Any):
        """``run_check`` on a proxy for ``handed_in``, as sealed grading runs it."""
        from circuitlab.grading.engine import run_check

        self.kernel.bridge.namespace["answer"] = handed_in
        return run_check(exercise, self.channel.lookup("answer"), record=False)
