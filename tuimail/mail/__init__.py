"""Mail as bytes and text, pure functions: parsing, rendering, sanitizing, composing, and the
file formats outside the store (`formats/`). Imports only `tuimail.core`."""
