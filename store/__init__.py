"""The store boundary: the one package that knows ClickHouse.

Every table, query and client lives here, so moving the store (to a server, to a cluster) changes
this package and its DDL, not the worker, the dashboards, the alerts or the retraining job:

- `connect.py`: the client of a deployment (`connect(settings.store)`), and whether the store is embedded
  (chDB, owned by the worker) or a server anyone may reach (`is_embedded`).
- `executor.py`: `StoreThread`, the one thread a client's calls run on.
- `errors.py`: what a store failure means to its caller (refused by the store, or worth a retry).
- `tables.py`: the table names; `ddl.sql`: the tables themselves.
- `documents.py` (the classified documents), `retraining.py` (labels, retraining reads, the
  `model_versions` audit), `alerts.py` (alert and silence state), `alert_windows.py` (the alert
  windows' counts and evidence), `migration.py` (an older `documents` layout rebuilt), `reader.py`
  (reads from outside the worker).

It imports only the ground (bloomwatch/): settings, the task table, and the shapes it reads and
writes (documents and labels `schemas.py`, `timestamps.py`, `prediction.py`, the alert model
`alerts/`), so every package above may use it, the retraining job included.
"""
