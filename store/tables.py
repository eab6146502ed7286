"""The store's table names, as store/ddl.sql creates them: queries name a table through these."""

DOCUMENTS = "documents"
LABELS = "labels"
MODEL_VERSIONS = "model_versions"
ALERTS = "alerts"
ALERT_SILENCES = "alert_silences"
