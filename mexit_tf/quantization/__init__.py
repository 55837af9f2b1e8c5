from mexit_tf.quantization.fake_quant import FakeQuant
from mexit_tf.quantization.quantize_aware import quantize_aware, quantizers_of
from mexit_tf.quantization.quantize_rules import (
    KEEP_FLOAT,
    QUANTIZE_RULES,
    register_quantize_rule,
)

__all__ = ["KEEP_FLOAT", "QUANTIZE_RULES", "FakeQuant", "quantize_aware", "quantizers_of",
           "register_quantize_rule"]
