"""How a TFLite stage maps onto LiteRT's CPU delegate (XNNPACK): partitions and the ops
left outside, read from the interpreter's execution plan after delegation."""

from collections import Counter


class FragmentationWarning(UserWarning):
    """A quantized stage falls apart on XNNPACK more than its float32 twin does."""


def xnnpack_delegation(model, num_threads: int = 1) -> dict:
    """`{"partitions", "nodes", "delegated_nodes", "ops_outside", "fully_delegated"}`.

    `model` is a `.tflite` file's bytes or path. The interpreter applies XNNPACK
    and replaces each run of supported nodes with one DELEGATE node; a node is
    delegated when it lies between a DELEGATE node's inputs and outputs. Ops
    left outside run on LiteRT's reference kernels, with a hand-over (and for
    int8 graphs often a QUANTIZE/DEQUANTIZE) at each seam, so more partitions
    mean a slower stage even when each op is cheap.

    Example:
    >>> xnnpack_delegation("bundle/stage_0.tflite")
    {'partitions': 1, 'nodes': 61, 'delegated_nodes': 61, 'ops_outside': {}, ...}
    """
    from ai_edge_litert.interpreter import Interpreter

    interpreter = (Interpreter(model_content=model, num_threads=num_threads)
                   if isinstance(model, bytes) else
                   Interpreter(model_path=str(model), num_threads=num_threads))
    interpreter.allocate_tensors()
    ops = interpreter._get_ops_details()  # every node: the model's, then the delegates'
    delegates = [op for op in ops if op["op_name"] == "DELEGATE"]
    originals = [op for op in ops if op["op_name"] != "DELEGATE"]
    producer = {int(t): op["index"] for op in originals for t in op["outputs"]}
    by_index = {op["index"]: op for op in originals}
    covered = set()
    for delegate in delegates:
        boundary = {int(t) for t in delegate["inputs"]}
        stack = [int(t) for t in delegate["outputs"]]
        while stack:
            node = producer.get(stack.pop())
            if node is None or node in covered:
                continue
            covered.add(node)
            stack.extend(int(t) for t in by_index[node]["inputs"]
                         if int(t) >= 0 and int(t) not in boundary)
    outside = Counter(op["op_name"] for op in originals if op["index"] not in covered)
    return {"partitions": len(delegates), "nodes": len(originals),
            "delegated_nodes": len(covered), "ops_outside": dict(sorted(outside.items())),
            "fully_delegated": bool(len(delegates) == 1 and not outside)}


def more_fragmented(quantized: dict, float_twin: dict) -> bool:
    """True when a quantized stage falls apart more than its float32 twin does."""
    return (quantized["partitions"] > float_twin["partitions"]
            or sum(quantized["ops_outside"].values()) > sum(float_twin["ops_outside"].values()))

