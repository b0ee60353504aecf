"""Unit tests of the benchmark's own tools (bench/)."""
