"""The fuzz targets of tests/fuzz/, driven by hypothesis: random bytes, mutated seeds, and every
seed file once. (atheris runs the same targets for longer; see docs/testing.md, "Fuzzing".)"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz import fuzz_imap, fuzz_message, fuzz_pop3, make_seeds

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "fuzz" / "seeds"
CORPUS = ROOT / "corpus"

TARGETS: dict[str, Callable[[bytes], None]] = {
    "message": fuzz_message.test_one_input,
    "imap": fuzz_imap.test_one_input,
    "pop3": fuzz_pop3.test_one_input,
}


def seed_files(target: str) -> list[Path]:
    files = sorted((SEEDS / target).glob("*")) if (SEEDS / target).is_dir() else []
    if target == "message":
        files += sorted(CORPUS.glob("*.eml"))
    return [path for path in files if path.is_file()]


SEED_BYTES = {target: [path.read_bytes() for path in seed_files(target)] for target in TARGETS}
EXAMPLES = {"message": 400, "imap": 300, "pop3": 400}
# Fragments that matter to the protocol readers: line ends, literals, dots, tags, separators.
TOKENS = [
    b"\r\n",
    b"\n",
    b"\r",
    b"=====\n",
    b"{0}\r\n",
    b"{5}\r\n",
    b"{99999999999}\r\n",
    b"TAG OK done\r\n",
    b"TAG NO no\r\n",
    b"* BYE bye\r\n",
    b"+ go on\r\n",
    b"* 3 EXISTS\r\n",
    b"* 2 EXPUNGE\r\n",
    b"(",
    b")",
    b'"',
    b"\\",
    b"NIL",
    b".\r\n",
    b"..",
    b"+OK\r\n",
    b"-ERR\r\n",
    b"\x00",
    b"\xff",
    b" ",
    b"chunks 1 1 1\n",
]


@st.composite
def mutated_seed(draw: st.DrawFn, target: str) -> bytes:
    """A seed with a few insertions, deletions, byte flips, repeats and cuts."""
    data = bytearray(draw(st.sampled_from(SEED_BYTES[target])))
    for _ in range(draw(st.integers(1, 6))):
        position = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["insert", "delete", "flip", "repeat", "truncate"]))
        if action == "insert":
            data[position:position] = draw(st.sampled_from(TOKENS) | st.binary(max_size=8))
        elif action == "delete":
            del data[position : position + draw(st.integers(1, 40))]
        elif action == "flip" and position < len(data):
            data[position] = draw(st.integers(0, 255))
        elif action == "repeat":
            end = min(len(data), position + draw(st.integers(1, 100)))
            data[position:position] = data[position:end] * draw(st.integers(1, 4))
        elif action == "truncate":
            del data[position:]
    return bytes(data)


def fuzz_settings(target: str) -> settings:
    return settings(
        max_examples=EXAMPLES[target],
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        database=None,  # findings are kept as seed files, not in a local database
    )


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_random_bytes(target: str) -> None:
    @fuzz_settings(target)
    @given(st.binary(max_size=4096))
    def run(data: bytes) -> None:
        TARGETS[target](data)

    run()


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_mutated_seeds(target: str) -> None:
    @fuzz_settings(target)
    @given(mutated_seed(target))
    def run(data: bytes) -> None:
        TARGETS[target](data)

    run()


@pytest.mark.parametrize(
    "seed",
    [
        pytest.param((target, path), id=f"{target}/{path.name}")
        for target in TARGETS
        for path in seed_files(target)
    ],
)
def test_every_seed_once(seed: tuple[str, Path]) -> None:
    target, path = seed
    TARGETS[target](path.read_bytes())


def test_the_protocol_seeds_reach_the_end_of_their_session() -> None:
    # A seed that stops early would leave most of the session unfuzzed.
    imap = fuzz_imap.run(fuzz_imap.seeds()["session.txt"])
    assert imap[-1] == ("logout", b"Logging out")
    assert dict(imap)["bodies"][0][1][b"BODY[]"].endswith(b".line two\r\n")
    pop = fuzz_pop3.run(fuzz_pop3.seeds()["session.txt"])
    assert pop[-1] == ("quit", b"+OK bye")
    assert dict(pop)["retr"] == fuzz_pop3.MESSAGE


def test_the_committed_seed_files_are_current() -> None:
    for target, seeds in make_seeds.BUILT_IN.items():
        for name, data in seeds().items():
            assert (SEEDS / target / name).read_bytes() == data, (
                f"run python -m {make_seeds.__name__}"
            )
