"""Write the built-in seed inputs of the IMAP and POP3 fuzz targets to tests/fuzz/seeds/.

Run ``python -m tests.fuzz.make_seeds`` after changing a target's `seeds()`; a test checks that
the committed files match. The message target's seeds are tests/corpus/*.eml, plus any file in
tests/fuzz/seeds/message/ (inputs that once failed, kept as regression tests).
"""

from __future__ import annotations

from pathlib import Path

from tests.fuzz import fuzz_imap, fuzz_pop3

SEEDS = Path(__file__).resolve().parent / "seeds"
BUILT_IN = {"imap": fuzz_imap.seeds, "pop3": fuzz_pop3.seeds}


def main() -> None:
    """Write every built-in seed (files added by hand are left alone)."""
    for target, seeds in BUILT_IN.items():
        directory = SEEDS / target
        directory.mkdir(parents=True, exist_ok=True)
        for name, data in seeds().items():
            (directory / name).write_bytes(data)


if __name__ == "__main__":
    main()
