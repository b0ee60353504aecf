"""The Textual screens and widgets: they read the store, write intents, and reach the app only
through `host.py`; never the network."""
