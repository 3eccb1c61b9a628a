"""The public surface of stepstones.serve and stepstones.dataset."""

from __future__ import annotations

import stepstones.dataset
import stepstones.serve


def test_serve_all_is_sorted_and_complete() -> None:
    names = stepstones.serve.__all__
    assert names == sorted(names, key=lambda n: (not n.isupper(), n))
    public = {n for n in dir(stepstones.serve) if not n.startswith("_")} - {"annotations"}
    assert set(names) == public


def test_dataset_all_is_sorted_and_complete() -> None:
    names = stepstones.dataset.__all__
    assert names == sorted(names, key=lambda n: (not n.isupper(), n))
    public = {n for n in dir(stepstones.dataset) if not n.startswith("_")} - {"annotations"}
    assert set(names) == public
