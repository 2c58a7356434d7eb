"""The trusted half of the grading channel: a student's kernel, and proxies for the objects in it.

The grading process never runs student code. It starts the student's notebook in a kernel
(``KernelSession``, inside the sandbox where available), executes cells there, and hands the
grader a ``RemoteObject`` where the grader expects the student's function or class. Calling the
proxy sends the arguments to the kernel as data, the kernel calls the student's object, and the
result comes back as data: tensors rebuilt from their bytes with a checked dtype and shape,
Python scalars, strings, lists, tuples, dicts, plotly figures rebuilt from their JSON. Anything
else stays in the kernel and comes back as another proxy. Nothing the kernel sends is unpickled.
"""
from __future__ import annotations

import ast
import base64
import functools
import io
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

KERNEL_SIDE = Path(__file__).with_name("kernel_side.py")
MAX_REPLY_BYTES = 512 * 1024 * 1024
# Seconds a kernel gets to answer an interrupt before it is killed.
INTERRUPT_GRACE = 5.0
POLL = 0.1

TENSOR_DTYPES = {
    "float16", "bfloat16", "float32", "float64", "complex64", "complex128",
    "int8", "int16", "int32", "int64", "uint8", "bool",
}
ARRAY_DTYPES = {"float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool",
                "complex64", "complex128"}


class KernelDied(Exception):
    """The kernel process ended (os._exit, a segfault, the memory limit)."""


class KernelHung(Exception):
    """The kernel ran past its limit and did not answer the interrupt; it was killed."""


class WireError(Exception):
    """The kernel sent something that is not a well-formed value."""


class NotSealable(Exception):
    """The grader passed something that cannot cross to the kernel as data (a callback, say)."""


@dataclass
class CellRun:
    """What one executed cell produced."""

    outputs: list[dict[str, Any]] = field(default_factory=list)
    status: str = "ok"  # ok | error | timeout | died | hung
    error: str = ""
    seconds: float = 0.0


# --------------------------------------------------------------------------- the kernel


class KernelSession:
    """One student's kernel: start, execute cells with a time limit, answer bridge requests."""

    def __init__(self, command_wrapper, env: dict[str, str], cwd: Path) -> None:
        self.command_wrapper = command_wrapper  # kernel argv -> sandboxed argv
        self.env = env
        self.cwd = cwd
        self.manager = None
        self.client = None
        self.execution_count = 0

    def start(self) -> None:
        from jupyter_client.manager import KernelManager

        wrapper = self.command_wrapper

        class _SandboxedManager(KernelManager):
            def format_kernel_cmd(self, extra_arguments=None):  # noqa: D401 (jupyter_client's hook)
                return wrapper(super().format_kernel_cmd(extra_arguments))

        self.cwd.mkdir(parents=True, exist_ok=True)
        # IPC sockets in the kernel's scratch folder: they work across the sandbox's network namespace.
        self.manager = _SandboxedManager(kernel_name="python3", transport="ipc",
                                         ip=str(self.cwd / "kernel-ipc"),
                                         connection_file=str(self.cwd / "kernel-connection.json"))
        self.manager.start_kernel(env=self.env, cwd=str(self.cwd))
        self.client = self.manager.blocking_client()
        self.client.start_channels()
        try:
            self.client.wait_for_ready(timeout=120)
        except RuntimeError as exc:
            self.stop()
            raise KernelDied(f"the kernel did not start: {exc}") from None

    def alive(self) -> bool:
        return self.manager is not None and self.manager.is_alive()

    def stop(self) -> None:
        if self.client is not None:
            try:
                self.client.stop_channels()
            except Exception:
                pass
        if self.manager is not None:
            _kill_tree(self.manager)
            try:
                self.manager.cleanup_resources()
            except Exception:
                pass
        self.manager = self.client = None

    def restart(self) -> None:
        self.stop()
        self.start()

    # ----------------------------------------------------------------- executing

    def execute(self, code: str, limit: float, silent: bool = False,
                user_expressions: dict[str, str] | None = None) -> tuple[CellRun, dict[str, Any]]:
        """Run ``code``; after ``limit`` seconds interrupt it, and kill a kernel that ignores that."""
        if not self.alive():
            raise KernelDied("the kernel is not running")
        start = time.monotonic()
        msg_id = self.client.execute(code, silent=silent, store_history=not silent,
                                     user_expressions=user_expressions or {}, allow_stdin=False)
        run = CellRun()
        deadline = start + limit
        interrupted_at: float | None = None
        idle = False
        reply: dict[str, Any] | None = None
        try:
            while not (idle and reply is not None):
                now = time.monotonic()
                if interrupted_at is None and now > deadline:
                    self.manager.interrupt_kernel()
                    interrupted_at = now
                    run.status = "timeout"
                elif interrupted_at is not None and now > interrupted_at + INTERRUPT_GRACE:
                    _kill_tree(self.manager)
                    raise KernelHung(f"ran past {limit:g} s and ignored the interrupt")
                if not self.alive():
                    raise KernelDied("the kernel died")
                if not idle:
                    idle = self._drain_iopub(msg_id, run)
                if reply is None:
                    reply = self._shell_reply(msg_id)
        except BaseException:
            # A grader's own time limit (raised into this thread) also lands here: stop the kernel's work.
            if self.alive() and not (idle and reply is not None):
                self._interrupt_or_kill()
            raise
        run.seconds = time.monotonic() - start
        if reply.get("status") == "error" and run.status == "ok":
            run.status = "error"
            run.error = f"{reply.get('ename', '')}: {reply.get('evalue', '')}"
        if not silent:
            self.execution_count = reply.get("execution_count") or self.execution_count
        return run, reply.get("user_expressions") or {}

    def _interrupt_or_kill(self) -> None:
        """Stop whatever the kernel is doing; a kernel that ignores the interrupt is killed."""
        try:
            self.manager.interrupt_kernel()
        except Exception:
            _kill_tree(self.manager)
            return
        end = time.monotonic() + INTERRUPT_GRACE
        while time.monotonic() < end and self.alive():
            try:
                msg = self.client.get_iopub_msg(timeout=POLL)
            except Exception:  # queue.Empty: nothing yet
                continue
            if msg["msg_type"] == "status" and msg["content"].get("execution_state") == "idle":
                self._flush_shell()
                return
        _kill_tree(self.manager)

    def _flush_shell(self) -> None:
        try:
            while True:
                self.client.get_shell_msg(timeout=0.2)
        except Exception:
            pass

    def _drain_iopub(self, msg_id: str, run: CellRun) -> bool:
        try:
            msg = self.client.get_iopub_msg(timeout=POLL)
        except Exception:  # queue.Empty
            return False
        if msg.get("parent_header", {}).get("msg_id") != msg_id:
            return False
        kind, content = msg["msg_type"], msg["content"]
        if kind == "status":
            return content.get("execution_state") == "idle"
        if kind == "stream":
            if run.outputs and run.outputs[-1].get("output_type") == "stream" and \
                    run.outputs[-1].get("name") == content.get("name"):
                run.outputs[-1]["text"] += content.get("text", "")
            else:
                run.outputs.append({"output_type": "stream", "name": content.get("name", "stdout"),
                                    "text": content.get("text", "")})
        elif kind in ("display_data", "execute_result"):
            output = {"output_type": kind, "data": content.get("data", {}), "metadata": content.get("metadata", {})}
            if kind == "execute_result":
                output["execution_count"] = content.get("execution_count")
            run.outputs.append(output)
        elif kind == "error":
            run.outputs.append({"output_type": "error", "ename": content.get("ename", ""),
                                "evalue": content.get("evalue", ""), "traceback": content.get("traceback", [])})
        elif kind == "clear_output":
            run.outputs.clear()
        return False

    def _shell_reply(self, msg_id: str) -> dict[str, Any] | None:
        try:
            msg = self.client.get_shell_msg(timeout=0.01)
        except Exception:
            return None
        if msg.get("parent_header", {}).get("msg_id") != msg_id:
            return None
        return msg["content"]

    # ----------------------------------------------------------------- the bridge

    def install_bridge(self, limit: float = 30) -> None:
        source = KERNEL_SIDE.read_text(encoding="utf-8")
        code = ("__circuitlab_ns__ = {'__name__': '__circuitlab_bridge__'}\n"
                f"exec(compile({source!r}, '<circuitlab bridge>', 'exec'), __circuitlab_ns__)\n"
                "__circuitlab_bridge__ = __circuitlab_ns__['_CircuitLabBridge'](globals())\n"
                "del __circuitlab_ns__\n")
        run, _ = self.execute(code, limit, silent=True)
        if run.status != "ok":
            raise WireError(f"the grading channel could not be set up in the kernel ({run.error or run.status})")

    def request(self, message: dict[str, Any], limit: float) -> dict[str, Any]:
        text = base64.b64encode(json.dumps(message).encode()).decode()
        run, expressions = self.execute("", limit, silent=True,
                                        user_expressions={"r": f"__circuitlab_bridge__.request({text!r})"})
        if run.status == "timeout":
            raise TimeoutError(f"ran past {limit:g} s and was interrupted")
        return parse_reply(expressions.get("r"))


def parse_reply(expression: Any) -> dict[str, Any]:
    """The kernel's answer: a quoted base64 string of JSON, or the channel was tampered with."""
    if not isinstance(expression, dict) or expression.get("status") != "ok":
        raise WireError("the kernel did not answer the grading request (was the grading channel replaced?)")
    text = expression.get("data", {}).get("text/plain", "")
    if not isinstance(text, str) or len(text) > MAX_REPLY_BYTES:
        raise WireError("the kernel's answer is too large or not text")
    try:
        encoded = ast.literal_eval(text)
        reply = json.loads(base64.b64decode(encoded, validate=True))
    except (ValueError, SyntaxError, TypeError) as exc:
        raise WireError(f"the kernel's answer is not well formed ({type(exc).__name__})") from None
    if not isinstance(reply, dict):
        raise WireError("the kernel's answer is not a mapping")
    return reply


def _kill_tree(manager) -> None:
    """Kill the kernel and everything it started (the sandbox's processes included)."""
    try:
        pid = manager.provisioner.process.pid if manager.provisioner and manager.provisioner.process else None
    except Exception:
        pid = None
    if pid:
        try:
            parent = psutil.Process(pid)
            family = parent.children(recursive=True) + [parent]
        except psutil.NoSuchProcess:
            family = []
        for member in family:
            try:
                member.kill()
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(family, timeout=10)
    try:
        manager.shutdown_kernel(now=True)
    except Exception:
        pass


# --------------------------------------------------------------------------- values


def decode(value: Any, session: "Channel", depth: int = 0, outputs: dict[int, Any] | None = None) -> Any:
    """Rebuild a value the kernel sent: only plain data, each piece checked.

    ``outputs`` collects the tensors the kernel marked as carrying a gradient, by slot."""
    if depth > 25:
        raise WireError("the value is nested too deeply")
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value
    if not isinstance(value, dict):
        raise WireError(f"unexpected {type(value).__name__} in the kernel's answer")
    kind = value.get("$t")
    if kind == "tensor":
        tensor = _tensor(value)
        if outputs is not None and value.get("grad") is True and type(value.get("slot")) is int and \
                (tensor.is_floating_point() or tensor.is_complex()):
            outputs[value["slot"]] = tensor
        return tensor
    if kind == "ndarray":
        return _array(value)
    if kind in ("list", "tuple"):
        items = [decode(item, session, depth + 1, outputs) for item in _items(value)]
        return items if kind == "list" else tuple(items)
    if kind == "dict":
        pairs = _items(value)
        result = {}
        for pair in pairs:
            if not (isinstance(pair, list) and len(pair) == 2 and type(pair[0]) in (str, int)):
                raise WireError("a dict entry is not a (key, value) pair")
            result[pair[0]] = decode(pair[1], session, depth + 1, outputs)
        return result
    if kind == "figure":
        import plotly.graph_objects as go

        text = value.get("json")
        if not isinstance(text, str):
            raise WireError("a figure without JSON")
        try:
            spec = _plain_arrays(json.loads(text))
            return go.Figure(spec, skip_invalid=False)
        except (ValueError, TypeError) as exc:
            raise WireError(f"the figure is not a valid plotly figure ({type(exc).__name__})") from None
    if kind == "factored":  # a TransformerLens FactoredMatrix: its two factors
        import torch
        from transformer_lens import FactoredMatrix

        a, b = decode(value.get("A"), session, depth + 1, outputs), decode(value.get("B"), session, depth + 1, outputs)
        if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)) or a.ndim < 2 or b.ndim < 2 or \
                a.shape[-1] != b.shape[-2]:
            raise WireError("a FactoredMatrix whose factors are not two matrices with a shared inner size")
        return FactoredMatrix(a, b)
    if kind == "module":
        if type(value.get("id")) is not int or not isinstance(value.get("tree"), list):
            raise WireError("a module without an id or parameters")
        return _remote_module_class()._build(session, value["id"], value["tree"])
    if kind == "handle":
        if type(value.get("id")) is not int:
            raise WireError("a handle without an id")
        name = value.get("name") if isinstance(value.get("name"), str) else None
        return RemoteObject(session, value["id"], str(value.get("type", "object"))[:100], bool(value.get("callable")),
                            name)
    raise WireError(f"unknown kind of value {kind!r}")


PLOTLY_ARRAY_CODES = {"f8", "f4", "i1", "u1", "i2", "u2", "i4", "u4", "i8", "u8"}


def _plain_arrays(spec: Any) -> Any:
    """A figure's JSON with plotly's base64 typed arrays turned back into lists of numbers."""
    if isinstance(spec, list):
        return [_plain_arrays(item) for item in spec]
    if not isinstance(spec, dict):
        return spec
    if set(spec) <= {"dtype", "bdata", "shape"} and {"dtype", "bdata"} <= set(spec):
        import numpy

        if spec["dtype"] not in PLOTLY_ARRAY_CODES or not isinstance(spec["bdata"], str):
            raise ValueError("unsupported typed array")
        array = numpy.frombuffer(base64.b64decode(spec["bdata"], validate=True), dtype=numpy.dtype(spec["dtype"]))
        shape = spec.get("shape")
        if isinstance(shape, str):
            array = array.reshape([int(n) for n in shape.split(",")])
        return array.tolist()
    return {key: _plain_arrays(item) for key, item in spec.items()}


def _items(value: dict[str, Any]) -> list[Any]:
    items = value.get("items")
    if not isinstance(items, list):
        raise WireError("a list without items")
    return items


def _shape_and_bytes(value: dict[str, Any], allowed: set[str]) -> tuple[str, list[int], bytes]:
    dtype, shape, data = value.get("dtype"), value.get("shape"), value.get("data")
    if dtype not in allowed:
        raise WireError(f"dtype {dtype!r} is not accepted")
    if not isinstance(shape, list) or not all(type(s) is int and s >= 0 for s in shape) or len(shape) > 16:
        raise WireError("a malformed shape")
    if not isinstance(data, str):
        raise WireError("tensor data is not text")
    try:
        raw = base64.b64decode(data, validate=True)
    except ValueError:
        raise WireError("tensor data is not base64") from None
    return dtype, shape, raw


def _tensor(value: dict[str, Any]):
    import torch

    dtype_name, shape, raw = _shape_and_bytes(value, TENSOR_DTYPES)
    dtype = getattr(torch, dtype_name)
    itemsize = torch.empty((), dtype=dtype).element_size()
    if len(raw) != math.prod(shape) * itemsize:
        raise WireError(f"tensor data has {len(raw)} bytes; shape {shape} of {dtype_name} needs "
                        f"{math.prod(shape) * itemsize}")
    if not raw:
        return torch.empty(shape, dtype=dtype)
    return torch.frombuffer(bytearray(raw), dtype=dtype).reshape(shape).clone()


def _array(value: dict[str, Any]):
    import numpy

    dtype_name, shape, raw = _shape_and_bytes(value, ARRAY_DTYPES)
    dtype = numpy.dtype(dtype_name)
    if len(raw) != math.prod(shape) * dtype.itemsize:
        raise WireError("array data does not match its shape")
    return numpy.frombuffer(raw, dtype=dtype).reshape(shape).copy()


def _pickled(value: Any) -> str:
    """``value`` pickled by torch, as base64 text (grader to kernel only: this direction is trusted)."""
    import torch

    buffer = io.BytesIO()
    torch.save(value, buffer)
    return base64.b64encode(buffer.getvalue()).decode()


def _content_key(prefix: str, tensors: Any, described: Any = None) -> str:
    """A digest of named tensors (and a JSON-able description): the kernel keeps what it was sent under it."""
    import hashlib

    digest = hashlib.sha256(json.dumps(described, sort_keys=True, default=str).encode())
    for name, tensor in tensors:
        digest.update(name.encode() + str(tensor.dtype).encode() + str(tuple(tensor.shape)).encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return prefix + digest.hexdigest()


class Lending:
    """What one call sends besides plain data: tensors the grader back-propagates to, and objects lent to the
    student's code (pickled together, so shared references survive; models rebuilt from config and weights)."""

    def __init__(self, sent_models: set[str] | None = None) -> None:
        self.grad_inputs: list[Any] = []  # tensors whose gradients the grader may ask for, by slot
        self.objects: list[Any] = []  # lent objects, by index
        self.special: list[dict[str, Any] | None] = []
        self.sent_models = sent_models if sent_models is not None else set()

    def lend(self, value: Any) -> dict[str, Any]:
        for index, item in enumerate(self.objects):
            if item is value:
                return {"$t": "lent", "index": index}
        index = len(self.objects)
        self.objects.append(value)
        self.special.append(None)
        self.special[index] = _special(value, self)
        return {"$t": "lent", "index": index}

    def message(self) -> dict[str, Any] | None:
        if not self.objects:
            return None
        import torch

        pickled = [item if spec is None else None for item, spec in zip(self.objects, self.special)]
        grads = []
        for index, item in enumerate(pickled):
            if isinstance(item, torch.nn.Module):
                found = [[name, encode(p.grad)] for name, p in item.named_parameters() if p.grad is not None]
                if found:
                    grads.append([index, found])
        payload = None
        if any(item is not None for item in pickled):
            try:
                payload = _pickled(pickled)
            except Exception as exc:
                kinds = ", ".join(sorted({type(i).__name__ for i in pickled if i is not None}))
                raise NotSealable(f"the grader passes a {kinds} that cannot be sent ({exc})") from None
        return {"pickle": payload, "special": self.special, "grads": grads}


def _is_bridge(value: Any) -> bool:
    return type(value).__name__ == "TransformerBridge" and hasattr(value, "cfg")


def _special(value: Any, lending: Lending) -> dict[str, Any] | None:
    """How the kernel rebuilds a lent object that pickle cannot carry (None: pickle it)."""
    if _is_bridge(value):
        from circuitlab.models import model_config

        wrapped = getattr(value, "original_model", None)
        # A Hugging Face model behind the bridge (GPT-2's architecture): rebuilt from its config in the kernel.
        hf = wrapped if type(wrapped).__module__.startswith("transformers.") else None
        cfg = {"hf_class": type(hf).__name__, "hf_config": hf.config.to_dict()} if hf is not None \
            else model_config(value)
        state = value.state_dict()
        tokenizer = getattr(value, "tokenizer", None)
        spec: dict[str, Any] = {"kind": "bridge", "key": _content_key("model-", state.items(), cfg),
                                "training": bool(value.training),
                                "compatibility": bool(getattr(value, "compatibility_mode", False)),
                                "requires_grad": [n for n, p in value.named_parameters() if p.requires_grad],
                                # gradients left in .grad from earlier work (a training loop must not use them)
                                "grads": [[n, encode(p.grad)] for n, p in value.named_parameters()
                                          if p.grad is not None]}
        if spec["key"] not in lending.sent_models:
            spec["cfg"] = cfg
            spec["state"] = [[name, encode(tensor)] for name, tensor in state.items()]
            if tokenizer is not None:
                spec["tokenizer"] = _pickled(tokenizer)
            lending.sent_models.add(spec["key"])
        return spec
    if type(value).__name__ == "HookPoint":
        return {"kind": "hookpoint", "name": getattr(value, "name", None)}
    if type(value).__name__ == "ActivationCache":
        model = lending.lend(value.model)["index"]
        spec = {"kind": "cache", "key": _content_key("cache-", value.cache_dict.items()), "model": model,
                "batch_dim": bool(getattr(value, "has_batch_dim", True))}
        if spec["key"] not in lending.sent_models:  # sent once per exercise; the kernel hands out copies
            spec["tensors"] = [[key, encode(t)] for key, t in value.cache_dict.items()]
            lending.sent_models.add(spec["key"])
        return spec
    return None


def _importable_in_kernel(module: str) -> bool:
    """Code a student's kernel can import by name (so a pickled reference to it unpickles there)."""
    if module.startswith(("torch", "transformers", "tokenizers", "transformer_lens", "einops", "numpy", "math")):
        return True
    return module.startswith("circuitlab.") and ".graders" not in module and not module.startswith("circuitlab.course")


def _lendable_callable(value: Any) -> bool:
    """A callable the kernel can rebuild: a function, method or callable object of importable code, a
    ``functools.partial`` of one, or a tokenizer. (A grader's lambda or local function cannot go.)"""
    import types

    if isinstance(value, functools.partial):
        return _lendable_callable(value.func)
    if isinstance(value, (types.FunctionType, types.BuiltinFunctionType)):
        return "<" not in getattr(value, "__qualname__", "<") and _importable_in_kernel(value.__module__ or "")
    if isinstance(value, types.MethodType):
        return _importable_in_kernel(type(value.__self__).__module__ or "") and \
            "<" not in type(value.__self__).__qualname__
    kind = type(value)
    return _importable_in_kernel(kind.__module__ or "") and "<" not in kind.__qualname__


def encode(value: Any, depth: int = 0, lending: Lending | None = None) -> Any:
    """A grader's argument as data for the kernel (this direction may pickle: it is trusted)."""
    import torch

    if depth > 25:
        raise NotSealable("an argument nested too deeply")
    if value is None or type(value) in (bool, int, float, str):
        return value
    if isinstance(value, RemoteObject):
        return {"$t": "handle", "id": value._handle}
    if isinstance(value, _remote_module_class()):
        return {"$t": "handle", "id": value._remote_root_handle()}
    if isinstance(value, torch.Tensor) and not isinstance(value, torch.nn.Parameter):
        plain = value.detach().cpu().contiguous()
        if plain.dtype == torch.bfloat16:
            raw = plain.view(torch.int16).numpy().tobytes()
        else:
            raw = plain.numpy().tobytes()
        encoded = {"$t": "tensor", "dtype": str(plain.dtype).removeprefix("torch."), "shape": list(plain.shape),
                   "data": base64.b64encode(raw).decode()}
        if lending is not None and value.requires_grad and torch.is_grad_enabled():
            encoded.update({"grad": True, "slot": len(lending.grad_inputs)})
            lending.grad_inputs.append(value)
        return encoded
    if isinstance(value, (list, tuple)) and type(value) in (list, tuple):
        return {"$t": type(value).__name__, "items": [encode(item, depth + 1, lending) for item in value]}
    if type(value).__name__ == "FactoredMatrix" and type(value).__module__.startswith("transformer_lens"):
        return {"$t": "factored", "A": encode(value.A, depth + 1, lending), "B": encode(value.B, depth + 1, lending)}
    if type(value) is dict and all(type(k) in (str, int) for k in value):
        return {"$t": "dict", "items": [[k, encode(v, depth + 1, lending)] for k, v in value.items()]}
    if callable(value) and not isinstance(value, torch.nn.Module) and not _lendable_callable(value):
        raise NotSealable(f"the grader passes a {type(value).__name__} (a callback) to the student's code")
    if lending is None:
        try:
            return {"$t": "pickle", "data": _pickled(value)}
        except Exception as exc:
            raise NotSealable(f"the grader passes a {type(value).__name__} that cannot be sent ({exc})") from None
    return lending.lend(value)


# --------------------------------------------------------------------------- proxies


class RemoteFailure(Exception):
    """The student's code raised in the kernel; the message names the exception and the line."""

    def __init__(self, type_name: str, message: str, line: str | None) -> None:
        where = f" (at your {line})" if line else ""
        super().__init__(f"{message}{where}")
        self.type_name, self.detail, self.line = type_name, message, line


class Channel:
    """Requests to one kernel, each with a time limit, with the faults they met recorded."""

    def __init__(self, kernel: KernelSession, call_limit: float) -> None:
        self.kernel = kernel
        self.call_limit = call_limit
        self.timed_out = False
        self.crashed = False
        self.hung = False
        self.not_sealable: str = ""
        self.sent_models: set[str] = set()  # lent models the kernel holds already (by content)

    def ask(self, message: dict[str, Any], outputs: dict[int, Any] | None = None) -> Any:
        try:
            reply = self.kernel.request(message, self.call_limit)
        except KernelDied:
            self.crashed = True
            raise
        except KernelHung:
            self.hung = True
            raise
        except TimeoutError:
            self.timed_out = True
            raise
        except BaseException:
            # The grader's own watchdog stopped the call (it raises into this thread).
            self.timed_out = True
            if not self.kernel.alive():
                self.hung = True
            raise
        if "error" in reply:
            error = reply["error"] if isinstance(reply["error"], dict) else {}
            type_name = str(error.get("type", "Exception"))[:80]
            if type_name == "KeyboardInterrupt":
                self.timed_out = True
            raise _remote_exception(type_name, str(error.get("message", ""))[:2000],
                                    error.get("line") if isinstance(error.get("line"), str) else None)
        value = decode(reply.get("value"), self, outputs=outputs)
        return value, reply

    def lookup(self, expression: str) -> Any:
        return self.ask({"op": "lookup", "expression": expression})[0]

    def check_in_kernel(self, exercise: str, expression: str, reference: bool = False) -> Any:
        """Run the exercise's checks inside the kernel on ``expression``; the outcome as plain data.

        ``reference``: the probe hands in the reference itself, which a check otherwise refuses."""
        return self.ask({"op": "grade", "exercise": exercise, "expression": expression,
                         "allow_reference": reference})[0]


def _grad_enabled() -> bool:
    import torch

    return torch.is_grad_enabled()


def advance_random_state() -> None:
    """After a call, move this process's generators on to a new stream derived from their own state.

    In-process, a call that draws random numbers advances the generators, so two calls in a row
    draw differently; the kernel's states are not adopted (see ``random_state``), so the grader's
    own stream moves on instead, the same way after every call, whatever the student's code did."""
    import random

    import numpy
    import torch

    seed = int(torch.randint(0, 2**62, (1,)).item())
    torch.manual_seed(seed)
    numpy.random.seed(seed % 2**32)
    random.seed(seed)


def random_state() -> dict[str, Any]:
    """This process's torch, NumPy and ``random`` generator states, for a call made in the kernel.

    A grader that seeds its generators before calling the student's code (``seeded``) then gets
    the draws it would get in-process. The kernel's states are never adopted here: a student
    cannot steer the grader's random inputs."""
    import random

    import numpy
    import torch

    name, keys, position, has_gauss, cached = numpy.random.get_state()
    version, internal, gauss = random.getstate()
    return {"torch": encode(torch.random.get_rng_state()),
            "numpy": [name, [int(k) for k in keys], int(position), int(has_gauss), float(cached)],
            "python": [version, list(internal), gauss]}


def _remote_exception(type_name: str, message: str, line: str | None) -> BaseException:
    """The student's exception, as the grader's helpers expect to see it: same name, same message."""
    if type_name == "NotImplementedError":
        return NotImplementedError(message)
    if type_name == "AttributeError":  # so that getattr(proxy, name, default) and hasattr behave
        return AttributeError(message)
    safe_name = type_name if type_name.isidentifier() else "Exception"
    kind = type(safe_name, (RemoteFailure,), {})
    return kind(type_name, message, line)


class RemoteObject:
    """Stands for an object in the student's kernel; every use is a request answered with data."""

    __slots__ = ("_channel", "_handle", "_type_name", "_callable", "_name")

    def __init__(self, channel: Channel, handle: int, type_name: str, is_callable: bool, name: str | None) -> None:
        object.__setattr__(self, "_channel", channel)
        object.__setattr__(self, "_handle", handle)
        object.__setattr__(self, "_type_name", type_name)
        object.__setattr__(self, "_callable", is_callable)
        object.__setattr__(self, "_name", name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return remote_call(self._channel, {"target": self._handle}, args, kwargs)

    def __getattr__(self, name: str) -> Any:
        if name == "__qualname__":  # how the graders name the student's object in a message
            return self._name or self._type_name
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return self._channel.ask({"op": "getattr", "target": self._handle, "name": name})[0]

    def __getitem__(self, key: Any) -> Any:
        return self._channel.ask({"op": "getitem", "target": self._handle, "key": encode(key)})[0]

    def __len__(self) -> int:
        value = self._channel.ask({"op": "len", "target": self._handle})[0]
        if type(value) is not int:
            raise WireError("len() of a student object was not an integer")
        return value

    def __repr__(self) -> str:
        return f"<student's {self._type_name} {self._name or ''}>".replace(" >", ">")


def _write_back(args: tuple[Any, ...], after: Any) -> None:
    """Copy the kernel's view of each tensor argument back, so an in-place change is seen here."""
    import torch

    if not isinstance(after, list) or len(after) != len(args):
        return
    for original, sent_back in zip(args, after):
        if isinstance(original, torch.Tensor) and isinstance(sent_back, dict) and sent_back.get("$t") == "tensor":
            try:
                changed = _tensor(sent_back)
            except WireError:
                continue
            if changed.shape == original.shape and changed.dtype == original.dtype and \
                    not torch.equal(torch.nan_to_num(changed), torch.nan_to_num(original.detach())):
                with torch.no_grad():
                    original.copy_(changed)


def remote_call(channel: Channel, target: dict[str, Any], args: tuple[Any, ...], kwargs: dict[str, Any],
                module: Any = None) -> Any:
    """Call an object in the kernel on the grader's arguments; the result as data, joined to autograd."""
    lending = Lending(channel.sent_models)
    try:
        message = {"op": "call", **target, "args": [encode(a, lending=lending) for a in args],
                   "kwargs": [[k, encode(v, lending=lending)] for k, v in kwargs.items()],
                   "random": random_state(), "grad": _grad_enabled()}
        if module is not None:
            message["module_state"] = module._remote_state(lending)
        message["lent"] = lending.message()
    except NotSealable as exc:
        channel.not_sealable = str(exc)
        raise
    outputs: dict[int, Any] = {}
    value, reply = channel.ask(message, outputs)
    if reply.get("random_used") is not False:
        advance_random_state()
    _write_back(args, reply.get("args_after"))
    _mirror_lent(lending.objects, reply.get("lent_after"))
    if module is not None and isinstance(reply.get("module_after"), dict):
        _mirror_module(module._remote_root or module, reply["module_after"])
    if reply.get("global_hooks_left") is True:
        _mirror_global_hook()
    if type(reply.get("grad_after")) is bool and reply["grad_after"] != _grad_enabled():
        import torch

        torch.set_grad_enabled(reply["grad_after"])  # the student's code switched gradients on or off for good
    graph = reply.get("graph")
    if type(graph) is int and outputs and lending.grad_inputs and _grad_enabled():
        value = _join_graph(value, _RemoteGraph(channel, graph, outputs, lending.grad_inputs))
    return value


class _RemoteGraph:
    """A call's outputs and the grader's inputs they depend on; backward asks the kernel for the gradients."""

    def __init__(self, channel: Channel, graph: int, outputs: dict[int, Any], inputs: list[Any]) -> None:
        self.channel, self.graph = channel, graph
        self.slots = sorted(outputs)
        self.outputs = [outputs[k] for k in self.slots]
        self.inputs = inputs

    def backward(self, grads: tuple[Any, ...]) -> list[Any]:
        import torch

        by_slot: list[Any] = [None] * (max(self.slots) + 1 if self.slots else 0)
        for slot, grad in zip(self.slots, grads):
            by_slot[slot] = grad
        found, _ = self.channel.ask({"op": "backward", "graph": self.graph,
                                     "grads": [None if g is None else encode(g) for g in by_slot]})
        if not isinstance(found, list) or len(found) != len(self.inputs):
            raise WireError("the kernel sent back the wrong number of gradients")
        result = []
        for grad, original in zip(found, self.inputs):
            if grad is None:
                result.append(None)
                continue
            if not isinstance(grad, torch.Tensor) or tuple(grad.shape) != tuple(original.shape):
                raise WireError("a gradient from the kernel does not match its input's shape")
            result.append(grad.to(original.dtype))
        return result


@functools.lru_cache(maxsize=None)  # built on first use: torch is imported only then
def _remote_grad_function():
    import torch

    class RemoteGrad(torch.autograd.Function):
        """Joins a call made in the kernel to this process's autograd graph."""

        @staticmethod
        def forward(ctx, graph: _RemoteGraph, *inputs):  # noqa: D102
            ctx.graph = graph
            return tuple(t.clone() for t in graph.outputs)

        @staticmethod
        def backward(ctx, *grads):  # noqa: D102
            return (None, *ctx.graph.backward(grads))

    return RemoteGrad


def _join_graph(value: Any, graph: _RemoteGraph) -> Any:
    joined = _remote_grad_function().apply(graph, *graph.inputs)
    replacement = {id(old): new for old, new in zip(graph.outputs, joined)}
    return _replace(value, replacement)


def _replace(value: Any, replacement: dict[int, Any]) -> Any:
    if id(value) in replacement:
        return replacement[id(value)]
    if type(value) is list:
        return [_replace(v, replacement) for v in value]
    if type(value) is tuple:
        return tuple(_replace(v, replacement) for v in value)
    if type(value) is dict:
        return {k: _replace(v, replacement) for k, v in value.items()}
    return value


def _noop_hook(*args: Any) -> None:
    return None


def _mirror_global_hook() -> None:
    """The student's code left a global module hook in the kernel: leave one here too, so the check sees it."""
    import torch

    torch.nn.modules.module.register_module_forward_hook(_noop_hook)


def _mirror_lent(objects: list[Any], after: Any) -> None:
    """Bring the grader's lent objects up to date with what the call did to the kernel's copies."""
    import torch

    if not isinstance(after, list) or len(after) != len(objects):
        return
    for item, report in zip(objects, after):
        if not isinstance(report, dict):
            continue
        kind = report.get("kind")
        if kind == "module" and isinstance(item, torch.nn.Module):
            _mirror_module(item, report)
        elif kind == "optimizer" and isinstance(item, torch.optim.Optimizer):
            state = decode_plain(report.get("state"))
            if isinstance(state, dict):
                try:
                    item.load_state_dict(state)
                except (ValueError, KeyError, TypeError, RuntimeError) as exc:
                    raise WireError(f"the optimizer's state from the kernel does not fit ({exc})") from None
        elif kind == "cache" and type(item).__name__ == "ActivationCache":
            with torch.no_grad():
                for pair in report.get("changed") or []:
                    name, value = pair[0], decode_plain(pair[1])
                    if name in item.cache_dict and isinstance(value, torch.Tensor):
                        item.cache_dict[name] = value  # the student's code wrote into its copy
        elif kind == "generator" and isinstance(item, torch.Generator):
            state = decode_plain(report.get("state"))
            if isinstance(state, torch.Tensor) and state.dtype == torch.uint8:
                item.set_state(state)
        elif kind == "vars" and isinstance(report.get("vars"), list):
            item = getattr(item, "__self__", item)  # a bound method: the object it belongs to
            for pair in report["vars"]:
                if isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str) and \
                        not pair[0].startswith("__") and hasattr(item, pair[0]):
                    current = getattr(item, pair[0])
                    new = decode_plain(pair[1])
                    if type(current) is type(new) and type(current) in (list, tuple, dict, int, float, str, bool) \
                            and not _same(current, new):
                        try:
                            setattr(item, pair[0], new)
                        except (AttributeError, TypeError):  # a frozen dataclass: the kernel's copy changed
                            continue


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except Exception:  # tensors inside: compare as unequal, copy
        return False


def decode_plain(value: Any) -> Any:
    """A value from the kernel that must be plain data (no handles, no modules)."""
    text = json.dumps(value)
    if '"$t": "handle"' in text or '"$t": "module"' in text:
        raise WireError("a handle where plain data was expected")
    return decode(value, None)  # type: ignore[arg-type]


def _mirror_module(module: Any, report: dict[str, Any]) -> None:
    import torch

    state = module.state_dict(keep_vars=True)
    params = dict(module.named_parameters())
    with torch.no_grad():
        for pair in report.get("state") or []:
            name, value = pair[0], decode_plain(pair[1])
            if name in state and isinstance(value, torch.Tensor):
                target = state[name]
                if target.shape == value.shape:
                    target.copy_(value.to(target.dtype))
                else:
                    target.data = value
        for name, value, requires_grad in report.get("replaced") or []:
            if name in params:
                owner_path, _, leaf = name.rpartition(".")
                owner = module.get_submodule(owner_path)
                setattr(owner, leaf, torch.nn.Parameter(decode_plain(value), requires_grad=bool(requires_grad)))
    params = dict(module.named_parameters())
    for name, grad in report.get("grads") or []:
        if name in params:
            grad = decode_plain(grad)
            params[name].grad = grad if isinstance(grad, torch.Tensor) and grad.shape == params[name].shape else None
    for path, training in report.get("training") or []:
        try:
            module.get_submodule(path).training = bool(training)
        except AttributeError:
            continue
    for name, kind, count in report.get("hooks") or []:
        if type(count) is not int or count < 1:
            continue
        for _ in range(min(count, 10)):
            _mirror_hook(module, str(name), str(kind))


def _mirror_hook(module: Any, name: str, kind: str) -> None:
    """A no-op hook where the student's code left one in the kernel: the grader's hook check then names it."""
    if kind == "tensor":
        params = dict(module.named_parameters())
        if name in params and params[name].requires_grad:
            params[name].register_hook(lambda grad: None)
        return
    try:
        target = module.get_submodule(name)
    except AttributeError:
        target = module
    if hasattr(target, "add_hook") and kind in ("_forward_hooks", "_backward_hooks"):
        # A TransformerLens hook point: added its way, so that model.reset_hooks() removes it as it would
        # have removed the student's.
        target.add_hook(_noop_hook, dir="fwd" if kind == "_forward_hooks" else "bwd")
        return
    register = {"_forward_hooks": target.register_forward_hook,
                "_forward_pre_hooks": target.register_forward_pre_hook,
                "_backward_hooks": target.register_full_backward_hook,
                "_backward_pre_hooks": target.register_full_backward_pre_hook}.get(kind, target.register_forward_hook)
    register(_noop_hook)


@functools.lru_cache(maxsize=None)  # built on first use: torch is imported only then
def _remote_module_class():
    import torch

    class RemoteModule(torch.nn.Module):
        """Stands for an ``nn.Module`` the student's class built in the kernel.

        Its parameters and buffers live here, as copies the grader may read, overwrite and train; its forward
        (and any other method) runs in the kernel, after the kernel's module has been given this copy's weights
        and train/eval flags. Outputs come back as data joined to autograd, so gradients reach these parameters."""

        def __init__(self, channel: Channel, handle: int, path: str, type_name: str) -> None:
            super().__init__()
            object.__setattr__(self, "_remote", (channel, handle, path, type_name))
            object.__setattr__(self, "_remote_root", None)

        @staticmethod
        def _build(channel: Channel, handle: int, tree: list[Any]) -> Any:
            modules: dict[str, Any] = {}
            for entry in tree:
                if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
                    raise WireError("a malformed module description")
                path = entry["path"]
                type_name = str(entry.get("type", "Module"))[:100]
                if entry.get("kind") == "list":
                    node: Any = torch.nn.ModuleList()
                elif entry.get("kind") == "dict":
                    node = torch.nn.ModuleDict()
                else:
                    node = RemoteModule(channel, handle, path, type_name)
                node.training = bool(entry.get("training", True))
                for name, value, requires_grad in entry.get("params", []):
                    tensor = decode_plain(value)
                    if not isinstance(name, str) or not name.isidentifier() or not isinstance(tensor, torch.Tensor):
                        raise WireError("a malformed parameter")
                    node.register_parameter(name, torch.nn.Parameter(tensor, requires_grad=bool(requires_grad)))
                for name, value in entry.get("buffers", []):
                    tensor = decode_plain(value)
                    if not isinstance(name, str) or not name.isidentifier() or not isinstance(tensor, torch.Tensor):
                        raise WireError("a malformed buffer")
                    node.register_buffer(name, tensor)
                if path:
                    parent_path, _, leaf = path.rpartition(".")
                    if parent_path not in modules:
                        raise WireError("a submodule listed before its parent")
                    parent = modules[parent_path]
                    if isinstance(parent, torch.nn.ModuleList):
                        parent.append(node)
                    else:
                        parent.add_module(leaf, node)
                modules[path] = node
            root = modules.get("")
            if not isinstance(root, RemoteModule):
                raise WireError("a module description without its root")
            for node in modules.values():
                if isinstance(node, RemoteModule):
                    object.__setattr__(node, "_remote_root", root)
            return root

        # --------------------------------------------------------------- running in the kernel
        def _remote_root_handle(self) -> int:
            return self._remote[1]

        def _remote_state(self, lending: Lending) -> dict[str, Any]:
            root = self._remote_root or self
            params = []
            for name, param in root.named_parameters():
                entry = {"value": encode(param.detach()), "requires_grad": bool(param.requires_grad)}
                if param.requires_grad and torch.is_grad_enabled():
                    entry["slot"] = len(lending.grad_inputs)
                    lending.grad_inputs.append(param)
                params.append([name, entry])
            buffers = [[name, encode(b)] for name, b in root.named_buffers()]
            training = [[path, bool(m.training)] for path, m in root.named_modules()]
            return {"target": self._remote[1], "params": params, "buffers": buffers, "training": training}

        def _call_in_kernel(self, method: str | None, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            channel, handle, path, _ = self._remote
            target = {"target": handle, "path": path, **({"method": method} if method else {})}
            return remote_call(channel, target, args, kwargs, module=self)

        def forward(self, *args: Any, **kwargs: Any) -> Any:  # noqa: D102
            return self._call_in_kernel(None, args, kwargs)

        def __getattr__(self, name: str) -> Any:
            try:
                return super().__getattr__(name)
            except AttributeError:
                pass
            if name.startswith("_") or self._remote_root is None:
                raise AttributeError(name)  # (and while the mirror is being built, nothing is asked)
            channel, handle, path, _ = self._remote
            kind = channel.ask({"op": "describe_attr", "target": handle, "path": path, "name": name})[0]
            if kind == "method":
                return lambda *args, **kwargs: self._call_in_kernel(name, args, kwargs)
            return channel.ask({"op": "getattr", "target": handle, "path": path, "name": name})[0]

        def __repr__(self) -> str:
            return f"<student's {self._remote[3]}>"

    return RemoteModule
