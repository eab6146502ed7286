"""Label schemas: the fixed, ordered label set of each task.

The order is the model's output order everywhere (config.json id2label, vLLM's `probs` list,
ClickHouse columns), so it is defined once here and never inferred from data.
"""

from bloomwatch.errors import ExpectedError

TASK_LABELS: dict[str, tuple[str, ...]] = {
    "sentiment": ("negative", "neutral", "positive"),
    "topic": ("world", "sports", "business", "sci_tech"),
}

TASKS = tuple(TASK_LABELS)


class UnknownTask(ExpectedError, ValueError):
    """A task name that is not one of TASKS (typed on the command line, or in a file)."""


def labels_for(task: str) -> tuple[str, ...]:
    try:
        return TASK_LABELS[task]
    except KeyError:
        raise UnknownTask(f"unknown task {task!r}; known tasks: {', '.join(TASKS)}") from None
