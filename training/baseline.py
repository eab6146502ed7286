"""The bar every BLOOM classifier is measured against: TF-IDF n-grams + logistic regression.

Word 1-2-grams plus character 2-5-grams, trained on the same training split the model saw; the
figures in the shared data README come from this recipe, so reproducing them here checks the split.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, make_pipeline

from bloomwatch.atomic_write import write_atomically
from training.data import Example, fingerprint

# part of the cache key: a change to the recipe above or to how it is scored must bump it
RECIPE_VERSION = 1


def train_tfidf_baseline(texts: Sequence[str], labels: Sequence[str], seed: int = 13):
    features = FeatureUnion(
        [
            ("word", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1)),
            ("char", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2)),
        ]
    )
    model = make_pipeline(features, LogisticRegression(C=10.0, max_iter=2000, random_state=seed))
    return model.fit(list(texts), list(labels))


def baseline_proba(model, texts: Sequence[str], labels: Sequence[str]) -> np.ndarray:
    """Probabilities in the task's label order (zero for classes the baseline never saw)."""
    raw = model.predict_proba(list(texts))
    out = np.zeros((len(texts), len(labels)), dtype=np.float32)
    for j, label in enumerate(model.classes_):
        out[:, list(labels).index(label)] = raw[:, j]
    return out


def tfidf_baselines(
    train: list[Example], test: list[Example], labels: Sequence[str], *, seed: int, behaviour: bool
) -> tuple[dict, dict | None]:
    """(test scores per dataset, each from a baseline fit on that dataset's training examples;
    the behaviour-suite score of one baseline fit on the whole training mix, if `behaviour`).

    Per dataset, as the shared README's reference figures are; the suite spans products, services
    and finance, so its baseline is the mix's."""
    from training.behaviour import score_behaviour
    from training.evaluate import score
    from training.mix import by_source

    train_by_source = by_source(train)
    scores = {}
    for source, items in by_source(test).items():
        fit_on = train_by_source.get(source, train)
        clf = train_tfidf_baseline([e.text for e in fit_on], [e.label for e in fit_on], seed=seed)
        scores[source] = score([e.label for e in items], baseline_proba(clf, [e.text for e in items], labels), labels)
    if not behaviour:
        return scores, None
    clf = train_tfidf_baseline([e.text for e in train], [e.label for e in train], seed=seed)
    return scores, score_behaviour(lambda texts: baseline_proba(clf, texts, labels), labels)


def cached_tfidf_baselines(
    cache_dir: Path, train: list[Example], test: list[Example], labels: Sequence[str], *, seed: int, behaviour: bool
) -> tuple[dict, dict | None]:
    """`tfidf_baselines`, read from `cache_dir` when the same data, labels, seed and suite were fit
    before: on the sentiment mix the fits take 15-30 minutes on 2 cores, and a resumed or repeated
    run on the same data would otherwise pay them each time."""
    from training.behaviour_suite import behaviour_suite

    key = json.dumps([RECIPE_VERSION, fingerprint(train), fingerprint(test), list(labels), seed,
                      sorted(behaviour_suite().texts()) if behaviour else None])  # fmt: skip
    path = Path(cache_dir) / f"{hashlib.sha256(key.encode()).hexdigest()[:16]}.json"
    if path.exists():
        cached = json.loads(path.read_text())
        return cached["scores"], cached["behaviour"]
    scores, suite_scores = tfidf_baselines(train, test, labels, seed=seed, behaviour=behaviour)
    write_atomically(path, lambda tmp: tmp.write_text(json.dumps({"scores": scores, "behaviour": suite_scores})))
    return scores, suite_scores
