"""The Textual App: runs the engines in workers and turns their events into UI updates."""
