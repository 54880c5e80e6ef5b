"""Worker side (imports torch): how much of the network FX QAT preparation reached.

Counts the Conv/Linear modules of the original model that got a weight fake-quant and an activation
observer on their output after ``prepare_qat_fx``, and lists submodules handed to ``torch.fx.wrap``-ed
functions: those are called at run time inside an opaque ``call_function`` node, so prepare swaps
them for QAT modules (weight fake-quant) but no observer sees their activations, and ``convert_fx``
later fails on them (fx-hazards.md §5).

Blind spot: a wrapped function that reaches modules through a closure, a global or ``self`` (rather
than an argument) hides them without any trace in the graph.
"""

from __future__ import annotations

from typing import Any, Dict, Iterator, List

import torch.fx
import torch.nn as nn
from torch.ao.quantization import FakeQuantizeBase, ObserverBase

#: module types FX QAT gives a weight fake-quant under verify's mapping (stages.qat_mapping)
QUANTIZABLE = (nn.modules.conv._ConvNd, nn.Linear, nn.Embedding)


def quantizable_names(model: nn.Module) -> List[str]:
    return [name for name, module in model.named_modules() if name and isinstance(module, QUANTIZABLE)]


def hidden_calls(graph_module: torch.fx.GraphModule) -> List[Dict[str, Any]]:
    """Wrapped call nodes that receive submodules: [{"function": name, "submodules": [qualified names]}]."""
    hidden = []
    for node in graph_module.graph.nodes:
        if node.op != "call_function" or not node.meta.get("is_wrapped"):
            continue
        modules = [arg.target for arg in _node_args(node)
                   if arg.op == "get_attr" and isinstance(_resolve(graph_module, arg.target), nn.Module)]
        if modules:
            hidden.append({"function": getattr(node.target, "__name__", str(node.target)), "submodules": modules})
    return hidden


def wrapped_functions(graph_module: torch.fx.GraphModule) -> List[str]:
    """Names of every wrapped call in the graph (opaque to quantization), in graph order, unique."""
    names = [getattr(n.target, "__name__", str(n.target)) for n in graph_module.graph.nodes
             if n.op == "call_function" and n.meta.get("is_wrapped")]
    return list(dict.fromkeys(names))


def coverage(model: nn.Module, prepared: torch.fx.GraphModule,
             graph_module: torch.fx.GraphModule) -> Dict[str, Any]:
    """The JSON-able coverage record of :class:`fxlint.verify.results.Coverage`."""
    names = quantizable_names(model)
    with_weight_fq = [n for n in names if hasattr(_resolve(prepared, n), "weight_fake_quant")]
    observed = _observed_outputs(prepared)
    return {
        "quantizable": len(names),
        "weight_fake_quant": len(with_weight_fq),
        "activation_observed": sum(1 for n in names if n in observed),
        "activation_observers": _observer_nodes(prepared),
        "not_quantized": [n for n in names if n not in with_weight_fq],
        "hidden_in_wrapped_calls": hidden_calls(graph_module),
    }


def _observed_outputs(prepared: torch.fx.GraphModule) -> set:
    """Targets of call_module nodes whose output feeds an activation observer / fake-quant."""
    observed = set()
    for node in prepared.graph.nodes:
        if node.op == "call_module" and any(_is_observer_node(prepared, user) for user in node.users):
            observed.add(node.target)
    return observed


def _observer_nodes(prepared: torch.fx.GraphModule) -> int:
    return sum(1 for node in prepared.graph.nodes if _is_observer_node(prepared, node))


def _is_observer_node(graph_module: torch.fx.GraphModule, node: torch.fx.Node) -> bool:
    return node.op == "call_module" and isinstance(_resolve(graph_module, node.target),
                                                   (FakeQuantizeBase, ObserverBase))


def _resolve(root: nn.Module, target: str) -> Any:
    try:
        return root.get_submodule(target)
    except AttributeError:
        return None


def _node_args(node: torch.fx.Node) -> Iterator[torch.fx.Node]:
    stack: List[Any] = [node.args, node.kwargs]
    while stack:
        item = stack.pop()
        if isinstance(item, torch.fx.Node):
            yield item
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
