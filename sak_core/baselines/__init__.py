"""Single-task baseline tables (YAML) for the multi-task gain; see sak_core.evaluation.multitask_gain."""
