"""The alert model, pure (no I/O): rules and their file (rules.py, default_rules.toml), windows and
groups (windows.py), the test on a window's counts (detector.py) and the pending -> firing ->
resolved lifecycle (lifecycle.py). Here in the ground because the store reads and writes these
shapes (store/alert_windows.py, store/alerts.py) and the evaluator that drives them
(streams/alerts/) stands above the store. See docs/alerts.md."""
