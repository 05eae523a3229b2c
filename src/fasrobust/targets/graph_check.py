"""A TensorFlow SavedModel is a program, not data: its graph may read and write files, call Python or open
connections, and TensorFlow runs what it holds when the model is loaded and asked. Before fasrobust loads
one, every operation of its graph and of every function in its library is read from saved_model.pb (a
protocol buffer: reading it runs nothing) and checked against an allow-list of numeric operations.

What a signature (or the load's initialisation) depends on may hold numeric operations only. TensorFlow's
own checkpoint machinery is told apart by reachability, not by name: what the graph's saver restores with
(run at load, reading the model's variables) may also restore, what it saves with (run only when a model
is saved, never by fasrobust) may also save; a function both paths reach is held to the stricter rule.
Anything else outside the allow-list is refused in one line naming the operation and the file, unless the
user trusts the model (`--trust-model`), which the run then records.
ONNX and TFLite files hold operators that compute, and Keras files are loaded in safe mode (no Lambda code):
those are data.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import TargetError

#: Operations that compute on tensors, move them, or read the model's own variables.
NUMERIC_OPS = frozenset(["Abs", "Acos", "Acosh", "Add", "AddN", "AddV2", "All", "Any", "ArgMax", "ArgMin", "Asin", "Asinh", "Assert", "AssignAddVariableOp", "AssignSubVariableOp", "AssignVariableOp", "Atan", "Atan2", "Atanh", "AvgPool", "AvgPool3D", "BatchMatMul", "BatchMatMulV2", "BatchMatMulV3", "BatchToSpaceND", "BiasAdd", "Bitcast", "BroadcastArgs", "BroadcastGradientArgs", "BroadcastTo", "Cast", "Ceil", "CheckNumerics", "ClipByValue", "ComplexAbs", "Concat", "ConcatV2", "Const", "Conv2D", "Conv2DBackpropInput", "Conv3D", "Cos", "Cosh", "Cumprod", "Cumsum", "DepthToSpace", "DepthwiseConv2dNative", "DisableCopyOnRead", "Div", "DivNoNan", "Einsum", "Elu", "EnsureShape", "Equal", "Erf", "Erfc", "Exp", "ExpandDims", "Expm1", "Fill", "Floor", "FloorDiv", "FloorMod", "FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3", "Gather", "GatherNd", "GatherV2", "Greater", "GreaterEqual", "HardSigmoid", "Identity", "IdentityN", "If", "InvertPermutation", "IsFinite", "IsInf", "IsNan", "L2Loss", "LRN", "LeakyRelu", "Less", "LessEqual", "LinSpace", "Log", "Log1p", "LogSoftmax", "LogicalAnd", "LogicalNot", "LogicalOr", "MatMul", "MatrixBandPart", "Max", "MaxPool", "MaxPool3D", "MaxPoolV2", "Maximum", "Mean", "Min", "Minimum", "MirrorPad", "Mod", "Mul", "MulNoNan", "Neg", "NoOp", "NonMaxSuppressionV3", "NonMaxSuppressionV5", "NotEqual", "OneHot", "OnesLike", "Pack", "Pad", "PadV2", "PartitionedCall", "Placeholder", "PlaceholderWithDefault", "Pow", "Prod", "Range", "Rank", "ReadVariableOp", "RealDiv", "Reciprocal", "Relu", "Relu6", "Reshape", "ResizeBilinear", "ResizeBicubic", "ResizeNearestNeighbor", "Reverse", "ReverseV2", "Round", "Rsqrt", "Select", "SelectV2", "Selu", "Shape", "ShapeN", "Sigmoid", "Sign", "Sin", "Sinh", "Size", "Slice", "Snapshot", "Softmax", "Softplus", "Softsign", "SpaceToBatchND", "SpaceToDepth", "Split", "SplitV", "Sqrt", "Square", "SquaredDifference", "Squeeze", "StatefulPartitionedCall", "StatelessIf", "StatelessWhile", "StopGradient", "StridedSlice", "Sub", "Sum", "Tan", "Tanh", "TensorListFromTensor", "TensorListGetItem", "TensorListLength", "TensorListReserve", "TensorListSetItem", "TensorListStack", "Tile", "TopKV2", "Transpose", "Unpack", "VarHandleOp", "VarIsInitializedOp", "Where", "While", "ZerosLike", "_FusedBatchNormEx", "_FusedConv2D", "_FusedMatMul"])
#: What TensorFlow's own checkpoint machinery may hold, beside the numeric operations.
SAVE_OPS = frozenset({"SaveV2", "SaveSlices", "Save", "MergeV2Checkpoints", "ShardedFilename", "StringJoin",
                      "StaticRegexFullMatch"})
RESTORE_OPS = frozenset({"RestoreV2", "Restore", "RestoreSlice", "Assign"})


def _functions_named(node) -> set[str]:
    """The functions a node calls (its function-valued attributes: f, then_branch, body ...)."""
    names = set()
    for value in node.attr.values():
        if value.HasField("func"):
            names.add(value.func.name)
        names |= {f.name for f in value.list.func}
    return names


class _Graph:
    """One meta graph: its nodes by name and its library's functions, for reachability."""

    def __init__(self, meta_graph):
        self.nodes = {node.name: node for node in meta_graph.graph_def.node}
        self.functions = {f.signature.name: f for f in meta_graph.graph_def.library.function}

    def reach(self, tensors) -> tuple[list, set[str]]:
        """(main-graph nodes that `tensors` depend on, functions those nodes call, directly or not)."""
        todo = [t.lstrip("^").split(":")[0] for t in tensors if t]
        seen: dict[str, object] = {}
        while todo:
            name = todo.pop()
            if name in seen or name not in self.nodes:
                continue
            node = seen[name] = self.nodes[name]
            todo += [i.lstrip("^").split(":")[0] for i in node.input]
        calls = set().union(*(_functions_named(n) for n in seen.values())) if seen else set()
        functions: set[str] = set()
        while calls:
            name = calls.pop()
            if name in functions or name not in self.functions:
                continue
            functions.add(name)
            for node in self.functions[name].node_def:
                calls |= _functions_named(node)
        return list(seen.values()), functions

    def operations(self, nodes, functions) -> set[tuple[str, str]]:
        ops = {(n.op, "the main graph") for n in nodes}
        for name in functions:
            ops |= {(n.op, f"function {name}") for n in self.functions[name].node_def}
        return ops


def unsafe_operations(path: Path) -> list[tuple[str, str]]:
    """(operation, where) for each operation outside what its place allows: the parts a signature or the
    load's initialisation run, numeric only; the checkpoint restore run at load, numeric and restore; the
    checkpoint save (run only when saving, never by fasrobust), numeric and save; anything else, numeric."""
    from tensorflow.core.protobuf import saved_model_pb2

    model = saved_model_pb2.SavedModel()
    try:
        model.ParseFromString((path / "saved_model.pb").read_bytes())
    except Exception:  # protobuf's DecodeError, or an unreadable file
        raise TargetError("saved_model.pb is not a SavedModel protocol buffer", path=path) from None
    unsafe: set[tuple[str, str]] = set()
    for meta_graph in model.meta_graphs:
        graph = _Graph(meta_graph)
        run = graph.reach([t.name for s in meta_graph.signature_def.values() for t in s.outputs.values()]
                          + list(meta_graph.collection_def["saved_model_main_op"].node_list.value
                                 if "saved_model_main_op" in meta_graph.collection_def else []))
        restore = graph.reach([meta_graph.saver_def.restore_op_name])
        save = graph.reach([meta_graph.saver_def.save_tensor_name])
        checked = {n.name for n in run[0]} | {n.name for n in restore[0]} | {n.name for n in save[0]}
        rest_nodes = [n for name, n in graph.nodes.items() if name not in checked]
        rest = (rest_nodes, set(graph.functions) - run[1] - restore[1] - save[1])
        # A function the signatures reach is checked with them, whatever else reaches it.
        parts = ((run[0], run[1], NUMERIC_OPS), (*rest, NUMERIC_OPS),
                 (restore[0], restore[1] - run[1], NUMERIC_OPS | RESTORE_OPS),
                 (save[0], save[1] - run[1], NUMERIC_OPS | SAVE_OPS | RESTORE_OPS))
        for nodes, functions, allowed in parts:
            unsafe |= {(op, where) for op, where in graph.operations(nodes, functions) if op not in allowed}
    return sorted(unsafe)


def check_saved_model(path: str | Path) -> None:
    """Refuse a SavedModel with an operation outside the allow-lists (see the module doc)."""
    path = Path(path)
    unsafe = unsafe_operations(path)
    if unsafe:
        op, where = unsafe[0]
        more = f" (and {len(unsafe) - 1} more)" if len(unsafe) > 1 else ""
        raise TargetError(f"the SavedModel runs operation {op} in {where}{more}, which is not in fasrobust's "
                          "allow-list of numeric operations (a SavedModel is a program: it may read or write "
                          "files, call Python or reach the network); nothing was run. If you trust this model, "
                          "--trust-model runs it anyway", path=path)
