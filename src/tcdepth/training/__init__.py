"""Self-supervised training: typed experiment configs, the Lightning module and data module, and the engine."""
