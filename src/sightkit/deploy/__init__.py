"""Deploy small and fast: ONNX export, ONNX Runtime prediction, INT8 quantization, pruning,
distillation and benchmarking (``sightkit export|quantize|prune|distill|bench``).

Modules: ``export`` (torch -> ONNX with a parity check), ``onnx_predictor`` (an ONNX Runtime
backend for :class:`~sightkit.tasks.classify.predict.Predictor`), ``quantize`` (static / dynamic
INT8), ``prune`` (structured channel pruning + fine-tuning), ``distill`` (knowledge
distillation), ``bench`` (latency, throughput, size, memory, accuracy).
"""
