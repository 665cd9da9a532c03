"""The output tree: atomic writer, validation, keep-last-good, hourly snapshots."""
