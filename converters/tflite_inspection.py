"""Read a TFLite flatbuffer: which ops it holds and how many multiply-adds it does."""

import collections

import numpy as np


def _model(data: bytes):
    from ai_edge_litert import schema_py_generated as schema

    return schema, schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(data, 0))


def op_counts(data: bytes) -> collections.Counter:
    """`Counter({"FULLY_CONNECTED": 12, ...})` over every operator of every subgraph."""
    schema, model = _model(data)
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    counts = collections.Counter()
    for subgraph in model.subgraphs:
        for op in subgraph.operators:
            code = model.operatorCodes[op.opcodeIndex]
            counts[names.get(max(code.builtinCode, code.deprecatedBuiltinCode), "CUSTOM")] += 1
    return counts


def tensor_types_of(data: bytes, op_name: str) -> set[str]:
    """Element types of the inputs of every `op_name` operator (e.g. {"INT8"})."""
    schema, model = _model(data)
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    types = {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
    found = set()
    for subgraph in model.subgraphs:
        for op in subgraph.operators:
            code = model.operatorCodes[op.opcodeIndex]
            if names.get(max(code.builtinCode, code.deprecatedBuiltinCode)) == op_name:
                found.update(types[subgraph.tensors[i].type] for i in op.inputs if i >= 0)
    return found


def multiply_adds(data: bytes) -> int:
    """Multiply-accumulates of the matmul-like ops (FC, conv, batch matmul)."""
    schema, model = _model(data)
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    total = 0
    for subgraph in model.subgraphs:
        shape = [np.asarray(t.shape if t.shape is not None else [], dtype=np.int64)
                 for t in subgraph.tensors]
        for op in subgraph.operators:
            code = model.operatorCodes[op.opcodeIndex]
            name = names.get(max(code.builtinCode, code.deprecatedBuiltinCode))
            out = int(np.prod(shape[op.outputs[0]])) if len(op.outputs) else 0
            if name == "FULLY_CONNECTED":
                total += out * int(shape[op.inputs[1]][-1])
            elif name in ("CONV_2D", "DEPTHWISE_CONV_2D"):
                kernel = shape[op.inputs[1]]
                per_output = int(np.prod(kernel[1:3])) * (
                    int(kernel[3]) if name == "CONV_2D" else 1)
                total += out * per_output
            elif name == "BATCH_MATMUL":
                a = shape[op.inputs[0]]
                total += out * int(a[-1])
    return total
