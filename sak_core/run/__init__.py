"""The run directory: its files and checkpoints, a trained run's context, and binding its task heads to plugins."""
