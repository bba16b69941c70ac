"""Feature engineering: pure functions that turn raw source frames into model features."""
