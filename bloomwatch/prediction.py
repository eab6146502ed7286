"""The one classification a caller gets back for one text and a task: what the classifier client
returns (classifiers/client.py, classifiers/embedded.py), the worker routes and the store keeps
(store/documents.py). In the ground because the store, below the classifiers, stores it."""

from pydantic import BaseModel, ConfigDict


class Prediction(BaseModel):
    """One text's classification; `probs` is keyed and ordered by the task's label order."""

    model_config = ConfigDict(frozen=True, protected_namespaces=())

    label: str
    probs: dict[str, float]
    model_version: str
