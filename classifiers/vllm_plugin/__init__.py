"""vLLM plugin (entry point `vllm.general_plugins`): lets vLLM 0.32 serve BLOOM classifiers.

vLLM loads every installed general plugin in each of its processes before it resolves a model's
architecture. The class is registered as a `module:Class` string so vLLM imports it (and its
torch/vLLM modules) only when a BLOOM classifier is actually served.
"""

ARCHITECTURE = "BloomForSequenceClassification"


def register() -> None:
    from vllm import ModelRegistry

    ModelRegistry.register_model(ARCHITECTURE, "classifiers.vllm_plugin.bloom:BloomForSequenceClassification")
