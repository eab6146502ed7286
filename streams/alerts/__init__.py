"""Anomaly alerts: rules (rules.py) judged on exact window counts (windows.py, detector.py), a
pending -> firing -> resolved lifecycle kept in ClickHouse (lifecycle.py, state.py), evidence
(evidence.py, terms.py) and delivery (notify.py), driven by one evaluator (evaluator.py).
See docs/alerts.md."""
