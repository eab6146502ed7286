"""Group texts into forward passes by a padded-token budget, shortest first.

Padding is the embedded engine's main waste on CPU: a batch costs (texts x longest text) tokens.
Sorting by length puts similar lengths together; a batch closes when its padded size would pass
the budget (which keeps memory flat whether a request holds 500 tweets or 20 long articles) or
when padding would become more than `max_padding` of it (so one long text does not make 60 short
ones pay for its length). vLLM needs neither rule: it packs sequences without padding.
"""

from collections.abc import Sequence


def token_budget_batches(lengths: Sequence[int], max_batch_tokens: int, max_padding: float = 0.25) -> list[list[int]]:
    """Indices into `lengths`, grouped so that len(group) * max(length in group) <= the budget
    and padding stays under `max_padding` of each group's padded size.

    A single text longer than the budget still gets a batch of its own.
    """
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches: list[list[int]] = []
    current: list[int] = []
    real_tokens = 0
    for index in order:
        longest = max(lengths[index], 1)  # sorted ascending, so the newcomer is the longest
        padded = (len(current) + 1) * longest
        if current and (padded > max_batch_tokens or padded - real_tokens - longest > max_padding * padded):
            batches.append(current)
            current, real_tokens = [], 0
        current.append(index)
        real_tokens += longest
    if current:
        batches.append(current)
    return batches
