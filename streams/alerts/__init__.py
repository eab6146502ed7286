"""Anomaly alerts: rules (rules.py) judged on exact window counts (windows.py, detector.py), a
pending -> firing -> resolved lifecycle kept in ClickHouse (lifecycle.py, state.py), evidence
(example documents: windows.py; over-represented words: terms.py) and delivery (notify.py),
driven by one evaluator (evaluator.py); the HTTP API (api.py) and `bloomwatch alerts` (cli.py).
See docs/alerts.md."""
