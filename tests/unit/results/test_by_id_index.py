"""The on-disk index by entity Id that joins results with their input (``byid``)."""

from __future__ import annotations

from geocode_dataflow.byid import ByIdIndex


def test_latest_is_the_last_record_under_an_id_as_often_as_asked(tmp_path):
    with ByIdIndex(tmp_path) as index:
        assert index.add("succeeded", [("a", "a1"), ("b", "b1")]) == 2
        assert index.add("failed", iter([("a", "a2")])) == 1
        assert index.latest("a") == ("failed", "a2")
        assert index.latest("a") == ("failed", "a2")
        assert index.latest("b") == ("succeeded", "b1")
        assert index.latest("c") is None
        assert index.add("succeeded", [("b", "b2")]) == 1  # added after a lookup
        assert index.latest("b") == ("succeeded", "b2")


def test_take_gives_each_record_once_in_the_order_added_then_the_rest(tmp_path):
    with ByIdIndex(tmp_path) as index:
        index.add("succeeded", [("x", "x1"), ("y", "y1"), ("x", "x2"), ("", "blank")])
        index.add("failed", [("z", "z1")])
        assert [index.take(i) for i in ("x", "x", "x", "q")] == [
            ("succeeded", "x1"),
            ("succeeded", "x2"),
            None,
            None,
        ]
        assert list(index.untaken()) == [("succeeded", "y1"), ("succeeded", "blank"),
                                         ("failed", "z1")]  # fmt: skip


def test_the_index_lives_in_a_temporary_directory_removed_on_close(tmp_path):
    index = ByIdIndex(tmp_path)
    index.add("succeeded", (("e", "r") for _ in range(5000)))
    assert len(list(tmp_path.iterdir())) == 1
    index.close()
    assert list(tmp_path.iterdir()) == []
