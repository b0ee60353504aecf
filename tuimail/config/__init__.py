"""The configuration file: its schema, loading and writing."""
