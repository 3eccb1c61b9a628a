import msgspec
import pytest

from stepstones import records
from stepstones.errors import RecordError, RecordVersionError
from stepstones.records import Chain, Draft, Problem, Seed, Turn


def _chain() -> Chain:
    seed = Seed(id="s1", text="x = 1\n", source="a.py", start_line=1, end_line=1)
    draft = Draft(env="deduction", code="def f(x):\n    return x + 1\n", inputs=("1",))
    problem = Problem(
        id="p1", env="deduction", code=draft.code, inputs=("1",), outputs=("2",), seed_id="s1"
    )
    turn = Turn(index=0, instruction="seed", draft=draft, problem=problem)
    return Chain(id="c1", seed=seed, env="deduction", mode="adaptive", turns=(turn,))


@pytest.mark.parametrize(
    ("enc", "dec"), [(records.encode, records.decode), (records.encode_json, records.decode_json)]
)
def test_round_trip(enc, dec) -> None:
    chain = _chain()
    assert dec(enc(chain), Chain) == chain
    assert chain.problems[0].outputs == ("2",)


def test_newer_schema_is_a_clear_error() -> None:
    raw = msgspec.json.encode({"schema": records.SCHEMA_VERSION + 1, "type": "chain", "record": {}})
    with pytest.raises(RecordVersionError, match="upgrade stepstones"):
        records.decode_json(raw, Chain)


def test_wrong_type_and_garbage() -> None:
    with pytest.raises(RecordError, match="expected a problem record"):
        records.decode_json(records.encode_json(_chain()), Problem)
    with pytest.raises(RecordError, match="malformed"):
        records.decode_json(b"{not json", Chain)


def test_older_record_without_new_fields_decodes() -> None:
    # A v1 problem written before pass_rate/n_attempts existed still decodes with defaults.
    raw = msgspec.json.encode(
        {
            "schema": 1,
            "type": "problem",
            "record": {
                "id": "p",
                "env": "induction",
                "code": "def f(): pass",
                "inputs": [],
                "outputs": [],
            },
        }
    )
    problem = records.decode_json(raw, Problem)
    assert problem.pass_rate is None
    assert problem.n_attempts == 0


def test_records_are_frozen() -> None:
    with pytest.raises(AttributeError):
        _chain().id = "other"  # type: ignore[misc]
