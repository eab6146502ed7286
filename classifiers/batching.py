"""Group texts into forward passes by a padded-token budget, shortest first.

Padding is the embedded engine's main waste on CPU: a batch costs (texts x longest text) tokens.
Sorting by length puts similar lengths together, and capping the padded size (not the number of
texts) keeps memory flat whether a request holds 500 tweets or 20 long articles.
"""

from collections.abc import Sequence


def token_budget_batches(lengths: Sequence[int], max_batch_tokens: int) -> list[list[int]]:
    """Indices into `lengths`, grouped so that len(group) * max(length in group) <= the budget.

    A single text longer than the budget still gets a batch of its own.
    """
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches: list[list[int]] = []
    current: list[int] = []
    for index in order:
        longest = max(lengths[index], 1)  # sorted ascending, so the newcomer is the longest
        if current and (len(current) + 1) * longest > max_batch_tokens:
            batches.append(current)
            current = []
        current.append(index)
    if current:
        batches.append(current)
    return batches
