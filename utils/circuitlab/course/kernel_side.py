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


def _unpickle(text):
    import torch
    return torch.load(_io.BytesIO(_b64.b64decode(text)), weights_only=False)


class _CircuitLabBridge:
    MAX_ITEMS = 100_000

    def __init__(self, namespace):
        self.namespace = namespace
        self.objects = {}
        self.graphs = {}  # graph id -> (input tensors, output tensors) of a call the grader may back-propagate
        self.built = {}  # content key -> a lent model's {"spec", "model"}, or a lent cache's tensors
        self.inputs = None  # slot -> tensor the grader needs gradients for (during one call)
        self.outputs = None  # output tensors that carry a gradient (during one call)
        self.lent = []  # the grader's objects lent to this call

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
            encoded = {"$t": "tensor", "dtype": dtype, "shape": list(plain.shape), "data": _b64.b64encode(raw).decode()}
            if self.outputs is not None and value.requires_grad:
                encoded.update({"grad": True, "slot": len(self.outputs)})
                self.outputs.append(value)
            return encoded
        if type(value).__name__ == "FactoredMatrix" and type(value).__module__.startswith("transformer_lens"):
            return {"$t": "factored", "A": self.encode(value.A, depth + 1), "B": self.encode(value.B, depth + 1)}
        if torch is not None and isinstance(value, torch.nn.Module) and not self.is_lent(value):
            return self.module(value)
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

    def is_lent(self, value):
        return any(value is item for item in self.lent)

    def module(self, value):
        """A module built by the student's code: its handle and its parameters, so the grader can mirror it."""
        import torch
        described = self.handle(value)
        tree = []
        saved, self.outputs = self.outputs, None
        try:
            for path, sub in value.named_modules():
                kind = "list" if isinstance(sub, torch.nn.ModuleList) else "dict" if isinstance(sub, torch.nn.ModuleDict) \
                    else "module"
                params = [[name, self.encode(p), bool(p.requires_grad)] for name, p in sub.named_parameters(recurse=False)]
                buffers = [[name, self.encode(b)] for name, b in sub.named_buffers(recurse=False) if b is not None]
                tree.append({"path": path, "kind": kind, "type": type(sub).__name__, "training": bool(sub.training),
                             "params": params, "buffers": buffers})
        finally:
            self.outputs = saved
        described.update({"$t": "module", "tree": tree})
        return described

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
            if kind != "tensor":
                return array
            tensor = torch.from_numpy(array)
            if value.get("grad") and self.inputs is not None:
                tensor.requires_grad_(True)
                self.inputs[value["slot"]] = tensor
            return tensor
        if kind in ("list", "tuple"):
            items = [self.decode(item) for item in value["items"]]
            return items if kind == "list" else tuple(items)
        if kind == "dict":
            return {key: self.decode(item) for key, item in value["items"]}
        if kind == "handle":
            return self.objects[value["id"]]
        if kind == "pickle":
            return _unpickle(value["data"])
        if kind == "lent":
            return self.lent[value["index"]]
        if kind == "factored":
            from transformer_lens import FactoredMatrix
            return FactoredMatrix(self.decode(value["A"]), self.decode(value["B"]))
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

    def target(self, message):
        """The object a request is about: a handle, a submodule of it (``path``), a method of that (``method``)."""
        target = self.objects[message["target"]]
        if message.get("path"):
            target = target.get_submodule(message["path"])
        if message.get("method"):
            target = getattr(target, message["method"])
        return target

    def op_call(self, message):
        import torch
        target = self.target(message)
        self.inputs, self.outputs = {}, None
        try:
            self.lent = self.lend(message.get("lent"))
            before = [self.snapshot(item) for item in self.lent]
            global_hooks = self.global_hooks()
            module_root = self.sync_module(message.get("module_state"))
            module_before = self.snapshot(module_root) if module_root is not None else None
            args = [self.decode(a) for a in message["args"]]
            kwargs = {key: self.decode(v) for key, v in message["kwargs"]}
            saved = self.use_random_state(message.get("random"))
            random_before = self.random_fingerprint()
            try:
                with torch.set_grad_enabled(bool(message.get("grad", torch.is_grad_enabled()))):
                    result = target(*args, **kwargs)
                    grad_after = torch.is_grad_enabled()
            finally:
                random_used = self.random_fingerprint() != random_before
                self.restore_random_state(saved)
            inputs = [self.inputs[k] for k in sorted(self.inputs)]
            self.outputs = [] if inputs and torch.is_grad_enabled() and message.get("grad", True) else None
            value = self.encode(result)
            reply = {"value": value, "random_used": random_used, "grad_after": grad_after}
            if self.outputs:
                graph = len(self.graphs) + 1
                self.graphs[graph] = (inputs, list(self.outputs))
                reply["graph"] = graph
            self.outputs = None
            # The arguments after the call: the grader checks that inputs were not changed in place.
            reply["args_after"] = [self.encode(a) if type(a).__name__ in ("Tensor", "Parameter") else None
                                   for a in args]
            reply["lent_after"] = [self.after(item, snap) for item, snap in zip(self.lent, before)]
            reply["global_hooks_left"] = self.remove_new_global_hooks(global_hooks)
            if module_root is not None:  # what the call did to the student's own module (in-place writes)
                reply["module_after"] = self.after(module_root, module_before)
            return reply
        finally:
            self.inputs = self.outputs = None

    def op_backward(self, message):
        """Gradients of a call's outputs, back-propagated in this kernel to the inputs the grader sent."""
        import torch
        inputs, outputs = self.graphs[message["graph"]]
        grads = [self.decode(g) for g in message["grads"]]
        pairs = [(o, g) for o, g in zip(outputs, grads) if g is not None and o.requires_grad]
        if not pairs:
            return {"value": {"$t": "list", "items": [None] * len(inputs)}}
        with torch.enable_grad():
            found = torch.autograd.grad([o for o, _ in pairs], inputs, [g.to(o.dtype) for o, g in pairs],
                                        retain_graph=True, allow_unused=True)
        return {"value": {"$t": "list", "items": [None if g is None else self.encode(g) for g in found]}}

    # ----------------------------------------------------------------- the grader's objects, lent
    def lend(self, lent):
        """The grader's objects for one call: pickled ones together (shared references kept), models rebuilt."""
        if not lent:
            return []
        items = list(_unpickle(lent["pickle"])) if lent.get("pickle") else [None] * len(lent["special"])
        for index, grads in lent.get("grads", []):  # pickling drops .grad
            params = dict(items[index].named_parameters())
            for name, grad in grads:
                params[name].grad = self.decode(grad)
        for index, spec in enumerate(lent["special"]):
            if spec is None:
                continue
            if spec["kind"] == "bridge":
                items[index] = self.bridge(spec)
            elif spec["kind"] == "hookpoint":
                from transformer_lens.hook_points import HookPoint
                point = HookPoint()
                point.name = spec["name"]
                items[index] = point
            elif spec["kind"] == "cache":
                from transformer_lens import ActivationCache
                if "tensors" in spec:
                    self.built[spec["key"]] = {key: self.decode(t) for key, t in spec["tensors"]}
                pristine = self.built[spec["key"]]
                items[index] = ActivationCache({key: t.clone() for key, t in pristine.items()}, items[spec["model"]],
                                               has_batch_dim=spec["batch_dim"])
                items[index]._circuitlab_pristine = pristine
        return items

    def bridge(self, spec):
        """A TransformerLens model rebuilt from its config and weights (kept per exercise, by content)."""
        import torch
        key = spec["key"]
        if "state" in spec:
            self.built.setdefault(key, {"spec": spec, "model": None})
        entry = self.built.get(key)
        if entry is None:
            raise RuntimeError("the grading channel lost a model (its weights were never sent)")
        if entry["model"] is not None and self.hooks_on(entry["model"][0]) != entry["model"][2]:
            entry["model"] = None  # a hook was left on it: build a clean one
        if entry["model"] is None:
            from circuitlab.models import native_model
            sent = entry["spec"]
            tokenizer = _unpickle(sent["tokenizer"]) if sent.get("tokenizer") else None
            cfg = sent["cfg"]
            if "hf_class" in cfg:  # a Hugging Face model behind the bridge
                import transformers
                from circuitlab.models import load_gpt2_from_hf
                hf_class = getattr(transformers, cfg["hf_class"])
                hf_model = hf_class(hf_class.config_class.from_dict(cfg["hf_config"]))
                model = load_gpt2_from_hf(hf_model, tokenizer, compatibility_mode=bool(sent.get("compatibility")))
            else:
                model = native_model(cfg, tokenizer=tokenizer)
                if sent.get("compatibility"):
                    model.enable_compatibility_mode()
            state = {name: self.decode(t) for name, t in sent["state"]}
            model.load_state_dict(state, strict=True)
            with torch.no_grad():  # the bridge wires some hooks of its own on its first run
                model(torch.zeros(1, 1, dtype=torch.long))
            entry["model"] = (model, state, self.hooks_on(model))
        model, state, _ = entry["model"]
        with torch.no_grad():
            for name, value in model.state_dict().items():
                if name in state and value.shape == state[name].shape:
                    value.copy_(state[name])
        wanted = set(spec.get("requires_grad", []))
        grads = {name: self.decode(g) for name, g in spec.get("grads", [])}
        for name, param in model.named_parameters():
            param.requires_grad_(name in wanted)
            param.grad = grads.get(name)
        model.train(bool(spec.get("training")))
        return model

    def sync_module(self, state):
        """Load the grader's copy of a student's module (weights, flags) into it before it runs; the module."""
        if not state:
            return None
        import torch
        root = self.objects[state["target"]]
        with torch.no_grad():
            for name, entry in state["params"]:
                value = self.decode(entry["value"])
                owner_path, _, leaf = name.rpartition(".")
                owner = root.get_submodule(owner_path)
                param = getattr(owner, leaf)
                if isinstance(param, torch.nn.Parameter) and param.shape == value.shape and param.dtype == value.dtype:
                    param.copy_(value)
                else:
                    param = torch.nn.Parameter(value.clone())
                    setattr(owner, leaf, param)
                param.requires_grad_(bool(entry["requires_grad"]))
                param.grad = None
                if "slot" in entry:
                    self.inputs[entry["slot"]] = param
            for name, entry in state["buffers"]:
                owner_path, _, leaf = name.rpartition(".")
                buffer = getattr(root.get_submodule(owner_path), leaf)
                value = self.decode(entry)
                if isinstance(buffer, torch.Tensor) and buffer.shape == value.shape:
                    buffer.copy_(value)
        for path, training in state["training"]:
            root.get_submodule(path).training = bool(training)
        return root

    HOOK_DICTS = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks")

    def hooks_on(self, model):
        found = {}
        for name, module in model.named_modules():
            for kind in self.HOOK_DICTS:
                count = len(getattr(module, kind, None) or ())
                if count:
                    found[(name, kind)] = count
        for name, param in model.named_parameters():
            count = len(getattr(param, "_backward_hooks", None) or ())
            if count:
                found[(name, "tensor")] = count
        return found

    def global_hooks(self):
        from torch.nn.modules import module as module_module
        return {name: set(getattr(module_module, name, {})) for name in
                ("_global_forward_hooks", "_global_forward_pre_hooks", "_global_backward_hooks",
                 "_global_backward_pre_hooks")}

    def remove_new_global_hooks(self, before):
        from torch.nn.modules import module as module_module
        found = False
        for name, keys in before.items():
            hooks = getattr(module_module, name, {})
            for key in set(hooks) - keys:
                del hooks[key]
                found = True
        return found

    def snapshot(self, item):
        import torch
        if isinstance(item, torch.nn.Module):
            return {"state": {k: v.detach().clone() for k, v in item.state_dict().items()},
                    "grads": {k: (None if p.grad is None else p.grad.detach().clone()) for k, p in item.named_parameters()},
                    "ids": {k: id(p) for k, p in item.named_parameters()},
                    "hooks": self.hooks_on(item)}
        return None

    def after(self, item, snap):
        """What the call did to a lent object, as data: the grader's own copy is brought up to date with it."""
        import torch
        saved, self.outputs = self.outputs, None
        try:
            if isinstance(item, torch.nn.Module):
                state = item.state_dict()
                changed = [[k, self.encode(v)] for k, v in state.items()
                           if k not in snap["state"] or v.shape != snap["state"][k].shape or not torch.equal(v, snap["state"][k])]
                params = dict(item.named_parameters())
                grads = []
                for k, p in params.items():
                    old = snap["grads"].get(k)
                    if (p.grad is None) != (old is None) or (p.grad is not None and not torch.equal(p.grad, old)):
                        grads.append([k, None if p.grad is None else self.encode(p.grad)])
                replaced = [[k, self.encode(p.detach()), bool(p.requires_grad)] for k, p in params.items()
                            if k in snap["ids"] and snap["ids"][k] != id(p)]
                hooks = self.hooks_on(item)
                left = [[name, kind, count - snap["hooks"].get((name, kind), 0)] for (name, kind), count in hooks.items()
                        if count > snap["hooks"].get((name, kind), 0)]
                training = [[path, bool(sub.training)] for path, sub in item.named_modules()]
                return {"kind": "module", "state": changed, "grads": grads, "replaced": replaced, "hooks": left,
                        "training": training}
            if type(item).__name__ == "ActivationCache" and hasattr(item, "_circuitlab_pristine"):
                pristine = item._circuitlab_pristine
                changed = [[key, self.encode(t)] for key, t in item.cache_dict.items()
                           if key in pristine and (t.shape != pristine[key].shape or not torch.equal(t, pristine[key]))]
                return {"kind": "cache", "changed": changed}
            if isinstance(item, torch.optim.Optimizer):
                return {"kind": "optimizer", "state": self.encode(item.state_dict())}
            if isinstance(item, torch.Generator):
                return {"kind": "generator", "state": self.encode(item.get_state())}
            plain = []
            owner = getattr(item, "__self__", item)  # a bound method: the object it belongs to
            for key, value in list(getattr(owner, "__dict__", {}).items()):
                if isinstance(value, (list, tuple, dict, int, float, str, bool)) or value is None:
                    try:
                        encoded = self.encode(value)
                    except ValueError:
                        continue
                    text = _json.dumps(encoded)
                    if '"$t": "handle"' not in text and '"$t": "module"' not in text:
                        plain.append([key, encoded])
            return {"kind": "vars", "vars": plain}
        finally:
            self.outputs = saved

    def random_fingerprint(self):
        import random

        import numpy
        import torch
        state = numpy.random.get_state()
        return (bytes(torch.random.get_rng_state().numpy()), bytes(state[1]), state[2], hash(random.getstate()))

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

    def op_describe_attr(self, message):
        value = getattr(self.target(message), message["name"])
        return {"value": "method" if callable(value) and hasattr(value, "__self__") else "value"}

    def op_getattr(self, message):
        return {"value": self.encode(getattr(self.target(message), message["name"]))}

    def op_getitem(self, message):
        return {"value": self.encode(self.objects[message["target"]][self.decode(message["key"])])}

    def op_len(self, message):
        return {"value": len(self.objects[message["target"]])}
