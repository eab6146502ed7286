"""Which of a task's models scores a document: the first that reads its language (issue 29).

A model declares the languages it was trained on (its manifest's `languages`, served on its
server's `/v1/models`). A task may serve several models at once, one per registry line (the main
line first: training/registry.py), e.g. an English model and a multilingual one; a document goes to
the first that reads its language, so the main line keeps every language it reads. A document's language is the one read from its text; when the text does
not tell (`und`: a ticker, an emoji, one word) the publisher's declared `lang` decides, and when
neither does the document is scored, as most undetermined texts in the shared sets are short
English ones (bench/RESULTS.md, "Language identification"). A document no current model of
the task reads is stored unscored (bloomwatch.tasks.Unscored): a score from a model that cannot read
the text would be noise in every share and alert window.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bloomwatch.language import UNDETERMINED

if TYPE_CHECKING:
    from classifiers.client import ClassifyClient, ServedModel


# Below this confidence a detection does not route a document away from a model: a wrong language
# is the costly error once a document goes unscored ("The merch hits different." reads as
# Luxembourgish at 0.24), so an unsure answer counts as undetermined here (it is stored as detected).
ROUTING_MIN_CONFIDENCE = 0.5


def routing_language(detected: str, confidence: float, declared: str | None) -> str:
    """The language a document is routed by: the detected one when langid is sure of it, else the
    declared primary subtag (`zh-CN` -> `zh`), else `und`."""
    if detected != UNDETERMINED and confidence >= ROUTING_MIN_CONFIDENCE:
        return detected
    if not declared:
        return UNDETERMINED
    return declared.split("-")[0].split("_")[0].lower() or UNDETERMINED


def reads(languages: frozenset[str], language: str) -> bool:
    return language == UNDETERMINED or language in languages


def route(models: tuple[ServedModel, ...], language: str) -> str | None:
    """The name of the first model, main line first, that reads `language`; None when none does."""
    return next((model.name for model in models if reads(model.languages, language)), None)


class ServedModels:
    """The models each task's server serves (main line first) and the languages each reads, asked of
    the server once and asked again after it answered that a model is no longer served (a hot
    reload replaced it: `forget`)."""

    def __init__(self, classifiers: dict[str, ClassifyClient]):
        self._classifiers = classifiers
        self._served: dict[str, tuple[ServedModel, ...]] = {}

    async def of(self, task: str) -> tuple[ServedModel, ...]:
        if task not in self._served:
            self._served[task] = await self._classifiers[task].served_models()
        return self._served[task]

    def forget(self, task: str) -> None:
        self._served.pop(task, None)
