"""The protocol engine: pure decisions over plain data (no I/O)."""
