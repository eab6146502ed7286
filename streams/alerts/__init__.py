"""Anomaly alerts at work: one evaluator (evaluator.py) judges the rules of bloomwatch/alerts/ on
exact window counts (their queries: store/alert_windows.py), keeps each alert's lifecycle in the
store (store/alerts.py), gathers the evidence (example documents: store/alert_windows.py;
over-represented words: terms.py) and delivers it (notify.py); the HTTP API (api.py) and
`bloomwatch alerts` (cli.py). See docs/alerts.md."""
