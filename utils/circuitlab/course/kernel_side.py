"""The half of the grading channel that runs inside the student's kernel.

Its source is sent to the kernel and executed there before each exercise is graded, so nothing
here is trusted: a student can replace any of it. It only turns the student's objects into plain
data (and back); the grading process decodes what it receives strictly, computes the expected
values itself and decides the score.

Kept free of Circuit Lab imports: it must work in a kernel that cannot import the graders.
"""
import base64 as _b64
import io as _io
import json as _json
import traceback as _tb


class _CircuitLabBridge:
    MAX_ITEMS = 100_000

    def __init__(self, namespace):
        self.namespace = namespace
        self.objects = {}

    # ----------------------------------------------------------------- to data
    def encode(self, value, depth=0):
        if depth > 20:
            raise ValueError("nested too deeply to send")
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, (int, float)) and type(value) in (int, float):
            return value
        try:
            import torch
        except ImportError:  # pragma: no cover - torch is always installed with Circuit Lab
            torch = None
        if torch is not None and isinstance(value, torch.Tensor):
            plain = torch.Tensor.as_subclass(value, torch.Tensor).detach().cpu().contiguous()
            dtype = str(plain.dtype).removeprefix("torch.")
            if plain.dtype == torch.bfloat16:
                raw = plain.view(torch.int16).numpy().tobytes()
            else:
                raw = plain.numpy().tobytes()
            return {"$t": "tensor", "dtype": dtype, "shape": list(plain.shape), "data": _b64.b64encode(raw).decode()}
        if type(value).__module__ == "numpy" and hasattr(value, "dtype"):
            import numpy
            array = numpy.ascontiguousarray(value)
            if array.ndim == 0 and not isinstance(value, numpy.ndarray):
                return value.item()
            return {"$t": "ndarray", "dtype": str(array.dtype), "shape": list(array.shape),
                    "data": _b64.b64encode(array.tobytes()).decode()}
        if isinstance(value, (list, tuple)) and len(value) <= self.MAX_ITEMS:
            try:
                items = [self.encode(item, depth + 1) for item in value]
            except ValueError:
                return self.handle(value)
            return {"$t": "list" if isinstance(value, list) else "tuple", "items": items}
        if isinstance(value, dict) and len(value) <= self.MAX_ITEMS and all(type(k) in (str, int) for k in value):
            try:
                items = [[key, self.encode(item, depth + 1)] for key, item in value.items()]
            except ValueError:
                return self.handle(value)
            return {"$t": "dict", "items": items}
        if type(value).__module__.startswith("plotly.graph_objs") and hasattr(value, "to_json"):
            return {"$t": "figure", "json": value.to_json()}
        return self.handle(value)

    def handle(self, value):
        key = len(self.objects) + 1
        self.objects[key] = value
        return {"$t": "handle", "id": key, "type": type(value).__name__, "callable": callable(value),
                "name": getattr(value, "__qualname__", None) if isinstance(getattr(value, "__qualname__", None), str)
                else None}

    # ----------------------------------------------------------------- from data
    def decode(self, value):
        if not isinstance(value, dict):
            return value
        kind = value.get("$t")
        if kind in ("tensor", "ndarray"):
            import numpy
            import torch
            raw = _b64.b64decode(value["data"])
            if kind == "tensor" and value["dtype"] == "bfloat16":
                return torch.frombuffer(bytearray(raw), dtype=torch.int16).view(torch.bfloat16).reshape(value["shape"])
            array = numpy.frombuffer(raw, dtype=value["dtype"]).reshape(value["shape"]).copy()
            return torch.from_numpy(array) if kind == "tensor" else array
        if kind in ("list", "tuple"):
            items = [self.decode(item) for item in value["items"]]
            return items if kind == "list" else tuple(items)
        if kind == "dict":
            return {key: self.decode(item) for key, item in value["items"]}
        if kind == "handle":
            return self.objects[value["id"]]
        if kind == "pickle":
            import torch
            return torch.load(_io.BytesIO(_b64.b64decode(value["data"])), weights_only=False)
        raise ValueError(f"unknown value kind {kind!r}")

    # ----------------------------------------------------------------- requests
    def request(self, text):
        """Carry out one request; the reply is base64 JSON (no quotes, no newlines)."""
        try:
            message = _json.loads(_b64.b64decode(text))
            reply = getattr(self, "op_" + message["op"])(message)
        except BaseException as exc:  # the student's exception is data for the grader
            reply = {"error": {"type": type(exc).__name__, "message": str(exc)[:2000],
                               "line": self.learner_line(exc)}}
        return _b64.b64encode(_json.dumps(reply).encode()).decode()

    def learner_line(self, exc):
        for frame in reversed(_tb.extract_tb(exc.__traceback__)):
            if "ipykernel_" in frame.filename or frame.filename.startswith("<ipython-input"):
                return f"line {frame.lineno}: {frame.line}" if frame.line else f"line {frame.lineno}"
        return None

    def op_lookup(self, message):
        return {"value": self.encode(eval(message["expression"], self.namespace))}

    def op_call(self, message):
        target = self.objects[message["target"]]
        args = [self.decode(a) for a in message["args"]]
        kwargs = {key: self.decode(v) for key, v in message["kwargs"]}
        saved = self.use_random_state(message.get("random"))
        try:
            if "grad" in message:  # the grader's gradient mode, whatever the notebook set globally
                import torch
                with torch.set_grad_enabled(bool(message["grad"])):
                    result = target(*args, **kwargs)
            else:
                result = target(*args, **kwargs)
        finally:
            self.restore_random_state(saved)
        # The arguments after the call: the grader checks that inputs were not changed in place.
        after = [self.encode(a) if type(a).__name__ in ("Tensor", "Parameter") else None for a in args]
        return {"value": self.encode(result), "args_after": after}

    def use_random_state(self, state):
        """Draw from the grader's generators (torch, NumPy, random) in this call, as if it ran there.

        Returns the kernel's own states, put back after the call: grading leaves the notebook's
        random streams as they were."""
        if not state:
            return None
        import random

        import numpy
        import torch
        saved = (torch.random.get_rng_state(), numpy.random.get_state(), random.getstate())
        torch.random.set_rng_state(self.decode(state["torch"]))
        name, keys, position, has_gauss, cached = state["numpy"]
        numpy.random.set_state((name, numpy.array(keys, dtype=numpy.uint32), position, has_gauss, cached))
        version, internal, gauss = state["python"]
        random.setstate((version, tuple(internal), gauss))
        return saved

    def restore_random_state(self, saved):
        if saved is None:
            return
        import random

        import numpy
        import torch
        torch.random.set_rng_state(saved[0])
        numpy.random.set_state(saved[1])
        random.setstate(saved[2])

    def op_grade(self, message):
        """The exercise's own checks, run here on the student's object (exercises that cannot be
        graded sealed): only the outcome goes back, as plain data."""
        from circuitlab.grading.engine import run_check
        result = run_check(message["exercise"], eval(message["expression"], self.namespace), record=False,
                           allow_reference=bool(message.get("allow_reference")))
        tests = [[str(t.name), bool(t.passed), str(t.message), bool(t.not_attempted)] for t in result.tests]
        return {"value": self.encode({"problem": str(result.problem), "tests": tests})}

    def op_getattr(self, message):
        return {"value": self.encode(getattr(self.objects[message["target"]], message["name"]))}

    def op_getitem(self, message):
        return {"value": self.encode(self.objects[message["target"]][self.decode(message["key"])])}

    def op_len(self, message):
        return {"value": len(self.objects[message["target"]])}
