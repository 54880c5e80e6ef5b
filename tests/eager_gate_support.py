"""Eager runs of every fixture model of one tree, for the differential eager gate (tests/test_eager_gate.py).

    python tests/eager_gate_support.py TREE OUT.pt [--state STATE.pt] REL ...

For each fixture ``REL`` (a path under ``TREE``, e.g. ``silent/silent_frozen_noise.py``) the model of
``make()`` is built in train and in eval mode, its weights replaced by the state dict in STATE.pt (the
original tree's, so an original and a fixed model compute with the same weights; without --state the
model's own initial state is recorded for the other run), and called in turn on every input variant:
``make()``'s and ``make_alt()``'s inputs (different shapes), each again without each keyword input the
signature lets a caller omit, with the optional inputs of ``GIVEN`` passed, and as the other input
types of ``RETYPED``. Every RNG is seeded
identically before each call (dropout, noise). What is recorded per call is the output (tensor leaves
detached, with dtype and requires_grad), or the exception's type and first line, and the inputs after
the call (an in-place write is eager behaviour too); after each mode the module's state dict. Saved with
``torch.save`` as {REL: {"error": str, "state": {...}, "calls": [(mode, variant, what, value)]}}.

Each fixture runs in a forked child (torch imported once): a fixture cannot leak global state into
the next. Runs only in a subprocess of the test: it imports torch and the models.
"""
from __future__ import annotations

import copy
import inspect
import os
import random
import sys
import traceback
import types
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fixture_support as fs  # noqa: E402

#: optional inputs no factory passes, given by the gate (evaluated with `torch`, `model`, `args`): the
#: paths a pin would take away (T5's `position_bias`, GPT-2's `layer_past`, RAFT's `flow_init`), and
#: flags no factory flips
GIVEN = {
    "zoo_nlp/nlp_t5_position_bias_optional.py":
        "{'position_bias': torch.randn(1, model.n_heads, args[0].shape[1], args[0].shape[1])}",
    "zoo_nlp/nlp_gpt2_layer_past.py":
        "{'layer_past': (torch.randn(args[0].shape[0], model.num_heads, 2, model.head_dim),"
        " torch.randn(args[0].shape[0], model.num_heads, 2, model.head_dim)), 'use_cache': True}",
    "zoo_misc/misc_raft_iters_flow_init.py":
        "{'flow_init': torch.randn(args[0].shape[0], 2, (args[0].shape[2] + 1) // 2, (args[0].shape[3] + 1) // 2),"
        " 'iters': 2, 'test_mode': True}",
    "zoo_nlp/nlp_hf_return_dict_config.py": "{'output_hidden_states': True, 'return_dict': True}",
    "zoo_nlp/nlp_kwargs_passthrough.py": "{'return_memory': True}",
    "zoo_vision/vis_deit_return_dist_flag.py": "{'return_dist_token': True}",
    "zoo_misc/misc_multitask_task_tuple.py": "{'tasks': ('depth',)}",
}
#: other input types a fixture documents as accepted (evaluated with `torch`, `types`, `args`): the
#: paths a type-branch rewrite could take away (detectron2's ImageList unwrapped by `hasattr`)
RETYPED = {
    "zoo_detection/det_imagelist_hasattr.py":
        ("an ImageList", "(types.SimpleNamespace(tensors=args[0], image_sizes=[args[0].shape[-2:]] * len(args[0])),)"),
}
MODES = ("train", "eval")


def seed_all(seed: int) -> None:
    import torch

    random.seed(seed)
    torch.manual_seed(seed)
    try:
        import numpy
    except ImportError:
        return
    numpy.random.seed(seed)


def canon(x):
    """A picklable, comparable copy of an output: tensors detached and cloned, containers kept."""
    import torch

    if isinstance(x, torch.Tensor):
        return ("tensor", x.detach().clone(), x.requires_grad)
    if isinstance(x, (list, tuple)):
        return (type(x).__name__, [canon(v) for v in x])
    if isinstance(x, dict):
        return ("dict", [(repr(k), canon(v)) for k, v in x.items()])
    if x is None or isinstance(x, (bool, int, float, str)):
        return ("py", x)
    return ("obj", type(x).__name__)


def omittable(signature: inspect.Signature, name: str) -> bool:
    param = signature.parameters.get(name)
    if param is None:  # taken by **kwargs
        return any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())
    return param.default is not inspect.Parameter.empty


def variants(rel: str, mod, model) -> list:
    """[(label, args, kwargs)]: each factory's inputs, without each omittable keyword, with GIVEN."""
    import torch

    out = []
    signature = inspect.signature(model.forward)
    factories = [("make", mod.make)] + ([("make_alt", mod.make_alt)] if hasattr(mod, "make_alt") else [])
    for tag, factory in factories:
        seed_all(1234)
        _, args, kwargs = fs.normalize(factory())
        out.append((tag, args, kwargs))
        for name in kwargs:
            if omittable(signature, name):
                out.append((f"{tag} without {name}", args, {k: v for k, v in kwargs.items() if k != name}))
        if rel in GIVEN:
            seed_all(4321)
            extra = eval(GIVEN[rel], {"torch": torch, "model": model, "args": args})  # noqa: S307 - our table
            out.append((f"{tag} with {', '.join(sorted(extra))}", args, {**kwargs, **extra}))
        if rel in RETYPED:
            what, expression = RETYPED[rel]
            retyped = eval(expression, {"torch": torch, "types": types, "args": args})  # noqa: S307 - our table
            out.append((f"{tag} as {what}", retyped, kwargs))
    return out


def run_one(tree: Path, rel: str, state) -> dict:
    import torch

    seed_all(0)
    mod = fs.load_module(tree / rel)
    model = fs.normalize(mod.make())[0]
    result = {"error": "", "state": copy.deepcopy(model.state_dict()), "calls": []}
    inputs = variants(rel, mod, model)
    for mode in MODES:
        seed_all(0)
        model = fs.normalize(mod.make())[0]
        model.load_state_dict(state if state is not None else result["state"])
        model.train(mode == "train")
        for index, (label, args, kwargs) in enumerate(inputs):
            args, kwargs = copy.deepcopy(args), copy.deepcopy(kwargs)
            seed_all(100 + index)
            try:
                with torch.enable_grad():
                    out = ("returned", canon(model(*args, **kwargs)))
            except Exception as exc:  # noqa: BLE001 - the exception is the eager behaviour recorded
                out = ("raised", (type(exc).__name__, fs.first_line(exc)))
            result["calls"].append((mode, label, *out))
            result["calls"].append((mode, label, "inputs after the call", canon((args, kwargs))))
        result["calls"].append((mode, "after every call", "state dict", canon(dict(model.state_dict()))))
    return result


def run_isolated(tree: Path, rels, state_of, out_dir: Path) -> dict:
    """Each fixture in a forked child (its result through a file); sequential: the calls are tiny."""
    import torch

    results = {}
    for index, rel in enumerate(rels):
        path = out_dir / f"{index}.pt"
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                try:
                    res = run_one(tree, rel, state_of.get(rel))
                except Exception:  # noqa: BLE001 - a fixture that cannot be built or loaded
                    res = {"error": traceback.format_exc(limit=-3), "state": None, "calls": []}
                torch.save(res, path)
            except BaseException:  # noqa: BLE001
                code = 1
            finally:
                os._exit(code)
        os.waitpid(pid, 0)
        results[rel] = torch.load(path, weights_only=False) if path.exists() else {
            "error": "the child died without a result", "state": None, "calls": []}
    return results


def main(argv) -> None:
    import tempfile

    import torch

    torch.set_num_threads(1)
    tree, out = Path(argv[0]), Path(argv[1])
    rels = argv[2:]
    state_of = {}
    if rels[:1] == ["--state"]:
        state_of = {rel: r["state"] for rel, r in torch.load(rels[1], weights_only=False).items()}
        rels = rels[2:]
    with tempfile.TemporaryDirectory() as scratch:
        torch.save(run_isolated(tree, rels, state_of, Path(scratch)), out)


if __name__ == "__main__":
    main(sys.argv[1:])
