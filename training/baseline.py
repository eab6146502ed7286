"""The bar every BLOOM classifier is measured against: TF-IDF n-grams + logistic regression.

Word 1-2-grams plus character 2-5-grams, trained on the same training split the model saw; the
figures in the shared data README come from this recipe, so reproducing them here checks the split.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, make_pipeline

from training.data import Example


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


def tfidf_baselines(train: list[Example], test: list[Example], labels: Sequence[str], *, seed: int, behaviour: bool) -> tuple[dict, dict | None]:
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
