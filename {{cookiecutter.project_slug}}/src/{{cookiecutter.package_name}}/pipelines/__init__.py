"""The three pipelines (feature, training, inference), each a module with ``main()``."""
