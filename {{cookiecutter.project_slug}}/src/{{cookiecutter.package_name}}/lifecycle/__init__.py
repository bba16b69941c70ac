"""The model lifecycle: aliases and their history, the training gate, monitoring, and their commands."""
