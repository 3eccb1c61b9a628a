"""The public surface of stepstones.report."""

from __future__ import annotations

from stepstones import report


def test_all_is_sorted_and_complete() -> None:
    assert report.__all__ == sorted(report.__all__, key=lambda n: (not n.isupper(), n))
    for name in report.__all__:
        assert getattr(report, name) is not None
    public = {n for n in vars(report) if not n.startswith("_") and n != "annotations"}
    assert public - set(report.__all__) == set()
