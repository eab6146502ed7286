"""Anomaly alerts: rules (rules.py) judged on exact window counts (windows and groups: windows.py;
their queries: store/alert_windows.py; the test: detector.py), a pending -> firing -> resolved
lifecycle kept in the store (lifecycle.py; its tables: store/alerts.py), evidence (example
documents: store/alert_windows.py; over-represented words: terms.py) and delivery (notify.py),
driven by one evaluator (evaluator.py); the HTTP API (api.py) and `bloomwatch alerts` (cli.py).
See docs/alerts.md."""
