"""Worker side (imports torch): example inputs for a model.

A factory's inputs are used as given. Otherwise they are inferred from the first layer that consumes
the input, in registration order (a proxy for data-flow order that is wrong when a model registers its
head before its stem; then the next candidate layer is tried). When no second input is given, one is
derived: new random values, and a different batch size where the model accepts it.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, List, Optional, Tuple

import torch
import torch.nn as nn

#: spatial sizes tried for convolutional stems, smallest first (224 for models with fixed position tables)
_SPATIAL = {1: (64, 224), 2: (32, 64, 224), 3: (16,)}
_BATCH = 2
_MAX_LAYERS_TRIED = 3


@dataclass
class Example:
    """Positional and keyword arguments of one forward call."""

    args: tuple
    kwargs: dict = field(default_factory=dict)


class CannotInfer(Exception):
    """No working example input could be built; the message says why, in one line."""


def split_factory_result(result: Any) -> Tuple[nn.Module, Optional[Example]]:
    """A factory returns a model, ``(model, args)`` or ``(model, args, kwargs)``; args may be one tensor."""
    if isinstance(result, nn.Module):
        return result, None
    if isinstance(result, tuple) and len(result) in (2, 3) and isinstance(result[0], nn.Module):
        args = result[1]
        args = tuple(args) if isinstance(args, (tuple, list)) else (args,)
        kwargs = result[2] if len(result) == 3 else {}
        if not isinstance(kwargs, dict):
            raise TypeError(f"the factory's third value must be a dict of keyword arguments, got {type(kwargs).__name__}")
        return result[0], Example(args, dict(kwargs))
    raise TypeError("a factory must return a model, (model, args) or (model, args, kwargs); "
                    f"got {type(result).__name__}")


# ---------------------------------------------------------------------------------------------- inference
def infer_example(model: nn.Module) -> Tuple[Example, str]:
    """(example, "Conv2d `stem` -> ...") from the first consuming layer that yields an input eager accepts."""
    layers = [(name, m) for name, m in model.named_modules() if _candidates_for(m)][:_MAX_LAYERS_TRIED]
    if not layers:
        raise CannotInfer("no Conv1d/2d/3d, Linear, Embedding or RNN layer to infer an input from")
    last_error = ""
    for name, layer in layers:
        for example in _candidates_for(layer):
            error = eager_error(model, example)
            if error is None:
                return example, f"{type(layer).__name__} `{name or 'self'}`"
            last_error = error
    first = layers[0]
    raise CannotInfer(f"inputs inferred from {type(first[1]).__name__} `{first[0]}` fail in eager: {last_error}")


def _candidates_for(layer: nn.Module) -> List[Example]:
    gen = torch.Generator().manual_seed(0)
    if isinstance(layer, nn.modules.conv._ConvNd):
        dims = len(layer.kernel_size)
        return [Example((torch.randn(_BATCH, layer.in_channels, *([size] * dims), generator=gen),))
                for size in _SPATIAL.get(dims, ())]
    if isinstance(layer, nn.Linear):
        return [Example((torch.randn(_BATCH, layer.in_features, generator=gen),)),
                Example((torch.randn(_BATCH, 8, layer.in_features, generator=gen),))]
    if isinstance(layer, (nn.Embedding, nn.EmbeddingBag)):
        return [Example((torch.randint(0, layer.num_embeddings, (_BATCH, 8), generator=gen),))]
    if isinstance(layer, nn.RNNBase):
        shape = (_BATCH, 8, layer.input_size) if layer.batch_first else (8, _BATCH, layer.input_size)
        return [Example((torch.randn(*shape, generator=gen),))]
    return []


def eager_error(model: nn.Module, example: Example) -> Optional[str]:
    """None when eager forward accepts the example (eval mode, on a copy), else the error's first line."""
    probe = copy.deepcopy(model).eval()
    try:
        with torch.no_grad():
            probe(*copy.deepcopy(example.args), **copy.deepcopy(example.kwargs))
    except Exception as exc:  # noqa: BLE001 - any user error means "not this input"
        return first_line(exc)
    return None


# ---------------------------------------------------------------------------------------------- derivation
def derive_second(model: nn.Module, example: Example) -> Tuple[Optional[Example], str]:
    """A second input with new random values, with batch + 1 when every tensor shares the batch size."""
    gen = torch.Generator().manual_seed(1)
    batch = _common_batch(example)
    if batch is not None:
        resized = _remake(example, gen, batch, batch + 1)
        if eager_error(model, resized) is None:
            return resized, f"derived: new values, batch {batch + 1}"
    same_shape = _remake(example, gen, None, None)
    if eager_error(model, same_shape) is None:
        return same_shape, "derived: new values, same shapes"
    return None, "none: no derived input runs in eager (only input A is compared)"


def _common_batch(example: Example) -> Optional[int]:
    sizes = {t.shape[0] for t in iter_tensors((example.args, example.kwargs)) if t.dim() > 0}
    return sizes.pop() if len(sizes) == 1 else None


def _remake(example: Example, gen: torch.Generator, old_batch: Optional[int], new_batch: Optional[int]) -> Example:
    def fresh(t: torch.Tensor) -> torch.Tensor:
        shape = list(t.shape)
        if old_batch is not None and shape and shape[0] == old_batch:
            shape[0] = new_batch
        return _random_like(t, shape, gen)

    return Example(map_tensors(example.args, fresh), map_tensors(example.kwargs, fresh))


def _random_like(t: torch.Tensor, shape: List[int], gen: torch.Generator) -> torch.Tensor:
    """New values in the range the original used (ids stay valid ids, non-negative stays non-negative)."""
    if t.dtype == torch.bool:
        out = torch.rand(shape, generator=gen) > 0.5
    elif not (t.is_floating_point() or t.is_complex()):
        low, high = (int(t.min()), int(t.max())) if t.numel() else (0, 1)
        out = torch.randint(low, high + 1, shape, generator=gen, dtype=t.dtype)
    elif t.is_complex():
        out = torch.randn(shape, generator=gen, dtype=t.dtype)
    elif t.numel() and float(t.min()) >= 0:
        out = torch.rand(shape, generator=gen, dtype=t.dtype) * (float(t.max()) or 1.0)
    else:
        scale = float(t.std()) if t.numel() > 1 else 1.0
        out = torch.randn(shape, generator=gen, dtype=t.dtype) * (scale or 1.0) + float(t.mean() if t.numel() else 0)
    return out.requires_grad_(t.requires_grad) if out.is_floating_point() else out


# ---------------------------------------------------------------------------------------------- helpers
def iter_tensors(obj: Any) -> Iterator[torch.Tensor]:
    """Every tensor inside nested tuples, lists, dicts and dataclasses."""
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, (list, tuple)):
        for item in obj:
            yield from iter_tensors(item)
    elif isinstance(obj, dict):
        for item in obj.values():
            yield from iter_tensors(item)
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for f in dataclasses.fields(obj):
            yield from iter_tensors(getattr(obj, f.name, None))


def map_tensors(obj: Any, fn: Callable[[torch.Tensor], torch.Tensor]) -> Any:
    if isinstance(obj, torch.Tensor):
        return fn(obj)
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return type(obj)(*(map_tensors(v, fn) for v in obj))
    if isinstance(obj, (list, tuple)):
        return type(obj)(map_tensors(v, fn) for v in obj)
    if isinstance(obj, dict):
        return {k: map_tensors(v, fn) for k, v in obj.items()}
    return obj


def describe_value(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        dtype = str(value.dtype).replace("torch.", "")
        return f"{dtype}[{', '.join(str(s) for s in value.shape)}]"
    if isinstance(value, (list, tuple)):
        inner = ", ".join(describe_value(v) for v in value[:6]) + (", ..." if len(value) > 6 else "")
        return f"({inner})" if isinstance(value, tuple) else f"[{inner}]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k!r}: {describe_value(v)}" for k, v in list(value.items())[:6]) + "}"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def describe_example(model: nn.Module, example: Example) -> str:
    """e.g. "x: float32[2, 3, 32, 32], mask=bool[2, 8]" (names from forward's signature when known)."""
    names = _positional_names(model)
    parts = [f"{names[i] if i < len(names) else f'arg{i}'}: {describe_value(v)}" for i, v in enumerate(example.args)]
    parts += [f"{k}={describe_value(v)}" for k, v in example.kwargs.items()]
    return ", ".join(parts) or "(no arguments)"


def _positional_names(model: nn.Module) -> List[str]:
    try:
        params = inspect.signature(model.forward).parameters.values()
    except (TypeError, ValueError):
        return []
    return [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]


def first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    text = f"{type(exc).__name__}: {lines[0] if lines else ''}".rstrip(": ")
    return text if len(text) <= 300 else text[:297] + "..."
