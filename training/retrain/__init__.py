"""Scheduled retraining: labels in, active learning, triggers (schedule, new labels, drift), a
LoRA retrain from the current model, gated promotion, and an audit row for every decision."""
