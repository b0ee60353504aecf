"""The model, paths, logging, crash points and TLS policy: imports nothing else of tuimail."""
