-- BloomWatch ClickHouse schema: the one place tables are defined.
-- Runs unchanged on chDB (embedded) and on a ClickHouse server; the worker applies it at start,
-- through store/documents.py ddl_statements(), which fills in the task columns.
-- Statements are separated by lines holding only ';' so the loader needs no SQL parser.

-- One row per document. ReplacingMergeTree sorted by (hour published, id): a document re-delivered
-- after a crash (at-least-once Kafka) lands on the same key and collapses; `ingested_at` is the
-- version, so a re-classification with a newer model wins. The hour leads so that the dashboards'
-- time ranges read only their hours (the primary index), not the whole table. It is derived from
-- `published_at`, which is part of the message (never ingestion time), and an id keeps the
-- `published_at` it was first stored with (DocumentStore.insert looks it up in the `by_id`
-- projection), so every version of a document has one sorting key and collapses, even when a
-- publisher re-sends it with a new time. No PARTITION BY: rows only collapse within one partition.
-- Exact counts: query with FINAL (FINAL never reads the projection; 'rebuild' keeps it in step
-- with merges). Retried inserts of the same batch carry the same insert_deduplication_token and
-- are dropped whole (non_replicated_deduplication_window). A store created with the earlier
-- `ORDER BY id` keeps working; `bloomwatch documents migrate` rebuilds it in this layout.
-- {task_columns} stands for every task's columns, made from the task table (bloomwatch/tasks.py)
-- by store/documents.py ddl_statements(): `<task>` an Enum8 of its labels in order, one Float32
-- `<task>_<label>` per label in that order, `<task>_model` the registry version that scored it;
-- ddl_statements() also adds them to a store made before the task existed, where the documents
-- already stored read the task's first label with probabilities 0 and an empty model. The kind
-- Enum8 holds exactly the schemas' kinds (a test keeps it in step; the classifier client rejects a
-- label outside the task's set before a row is made, because an unknown name would be stored as
-- 0). Enum8 rather than LowCardinality(String): the dashboards group a million rows by
-- (interval, topic, sentiment) and fixed-size keys hash 1.5-2.4x faster (bench/RESULTS.md).
CREATE TABLE IF NOT EXISTS documents
(
    id                 String,
    source             LowCardinality(String),
    kind               Enum8('news' = 1, 'review' = 2),
    lang               LowCardinality(Nullable(String)),
    url                Nullable(String),
    metadata           Map(String, String),
    published_at       DateTime64(3, 'UTC'),
    enqueued_at        DateTime64(3, 'UTC') COMMENT 'Kafka record timestamp: publish -> stored latency',
    ingested_at        DateTime64(3, 'UTC') COMMENT 'when the worker wrote the row',
    text               String,
    {task_columns}
    detected_lang      LowCardinality(String) COMMENT 'read from the text (streams/language.py): ISO 639-1, und when unsure; lang is what the publisher declared',
    lang_confidence    Float32,
    PROJECTION by_id (SELECT id, published_at ORDER BY id)
)
ENGINE = ReplacingMergeTree(ingested_at)
ORDER BY (toStartOfHour(published_at), id)
SETTINGS non_replicated_deduplication_window = 10000, deduplicate_merge_projection_mode = 'rebuild'
;

-- A store made before language detection gets its columns, last as in a fresh table; its documents read `und`.
ALTER TABLE documents ADD COLUMN IF NOT EXISTS detected_lang LowCardinality(String) DEFAULT 'und'
;

ALTER TABLE documents ADD COLUMN IF NOT EXISTS lang_confidence Float32 AFTER detected_lang
;

-- Alert lifecycle (streams/alerts): one row per alert instance (rule + group + onset), rewritten on
-- every state change (pending -> firing -> resolved); ReplacingMergeTree keeps the latest by
-- `updated_at`. Query with FINAL. `payload` is the JSON notification (evidence, examples, terms).
CREATE TABLE IF NOT EXISTS alerts
(
    alert_id      String,
    rule          LowCardinality(String),
    group_key     String COMMENT 'e.g. source=acme-bank; empty for an ungrouped rule',
    state         LowCardinality(String) COMMENT 'pending | firing | resolved',
    severity      LowCardinality(String),
    window_start  DateTime64(3, 'UTC'),
    window_end    DateTime64(3, 'UTC'),
    started_at    DateTime64(3, 'UTC'),
    updated_at    DateTime64(3, 'UTC'),
    resolved_at   Nullable(DateTime64(3, 'UTC')),
    acknowledged_by Nullable(String),
    observed      Float64,
    baseline      Float64,
    statistic     Float64,
    payload       String,
    fired         Bool DEFAULT false COMMENT 'reached firing; a pending alert that never did ends resolved with false'
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY alert_id
;

-- Silences (bloomwatch alerts silence RULE[/GROUP] --for 2h): while one matches (same rule, and
-- the same group_key or an empty one), state changes are still recorded but nobody is notified.
CREATE TABLE IF NOT EXISTS alert_silences
(
    silence_id    String,
    rule          LowCardinality(String),
    group_key     String COMMENT 'empty: every group of the rule',
    starts_at     DateTime64(3, 'UTC'),
    ends_at       DateTime64(3, 'UTC'),
    created_by    String,
    comment       String,
    created_at    DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(created_at)
ORDER BY silence_id
;

-- Human labels (the `labels` topic; streams/labels.py). One row per (task, document): a label
-- re-delivered after a crash collapses, and a later correction (newer labelled_at) replaces the
-- earlier one. Query with FINAL. `text` is set when the label arrived with its text (a document
-- that was never streamed); otherwise the retraining job takes the text from `documents`.
CREATE TABLE IF NOT EXISTS labels
(
    document_id  String,
    task         LowCardinality(String),
    label        LowCardinality(String),
    text         Nullable(String),
    annotator    LowCardinality(String),
    labelled_at  DateTime64(3, 'UTC'),
    enqueued_at  DateTime64(3, 'UTC') COMMENT 'Kafka record timestamp',
    ingested_at  DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(labelled_at)
ORDER BY (task, document_id)
SETTINGS non_replicated_deduplication_window = 10000
;

-- Retraining audit (training/retrain): one row per decision: a candidate promoted or rejected
-- (with the reason), a run that failed or was skipped, a rollback. `version` is the registry
-- version the decision is about ('' when no candidate was trained), `parent` the version that
-- was current when the run started. `metrics` is JSON (per test source: before/after accuracy,
-- the new-label holdout). Query with FINAL.
CREATE TABLE IF NOT EXISTS model_versions
(
    run_id          String,
    task            LowCardinality(String),
    version         String,
    parent          String,
    trigger         LowCardinality(String) COMMENT 'manual | schedule | labels | drift | rollback',
    decision        LowCardinality(String) COMMENT 'promoted | rejected | dry_run | skipped | failed | rolled_back',
    reason          String,
    labels_total    UInt32,
    labels_train    UInt32,
    labels_holdout  UInt32,
    replay_examples UInt32,
    metrics         String,
    started_at      DateTime64(3, 'UTC'),
    finished_at     DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(finished_at)
ORDER BY (task, run_id)
;
