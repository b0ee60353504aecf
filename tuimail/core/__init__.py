"""The model, paths, logging, crash points, failure kinds and TLS policy: imports nothing else of
tuimail."""
