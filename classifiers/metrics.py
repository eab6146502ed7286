"""Prometheus metrics of one classifier server (embedded, or the proxy in front of vLLM).

Each server gets its own CollectorRegistry so that several apps can live in one process (tests)
without duplicate-metric errors; `/metrics` renders only this server's collectors.
"""

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class ServingMetrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self, task: str, engine: str):
        self.registry = CollectorRegistry()
        labels = {"task": task, "engine": engine}
        self.requests = Counter(
            "bloomwatch_classify_requests", "/classify requests by HTTP status", ["status"], registry=self.registry
        )
        self.texts = Counter("bloomwatch_classify_texts", "texts classified", registry=self.registry)
        self.tokens = Counter("bloomwatch_classify_prompt_tokens", "prompt tokens classified", registry=self.registry)
        self.latency = Histogram(
            "bloomwatch_classify_latency_seconds",
            "time to answer a /classify request",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=self.registry,
        )
        self.reloads = Counter(
            "bloomwatch_model_reloads",
            "model swaps after the registry pointer moved",
            ["outcome"],
            registry=self.registry,
        )
        self._served = Gauge(
            "bloomwatch_served_model_info",
            "1 for each model version being served (one per line of the task)",
            ["task", "engine", "line", "model"],
            registry=self.registry,
        )
        self._labels = labels
        self._current: dict[str, str] = {}  # line -> model served on it

    def serving(self, model_name: str, line: str = "") -> None:
        if line in self._current:
            self._served.remove(self._labels["task"], self._labels["engine"], line, self._current[line])
        self._served.labels(line=line, model=model_name, **self._labels).set(1)
        self._current[line] = model_name

    def render(self) -> bytes:
        return generate_latest(self.registry)
