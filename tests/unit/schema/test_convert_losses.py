"""``convert`` never crashes on a value it cannot write and never changes one silently:
a lone surrogate is a clean error, a character the target cannot carry is replaced and
counted, and the CLI says so on stderr."""

from __future__ import annotations

import io

import pytest
from geocode_dataflow import cli
from geocode_dataflow.schema import (
    FeedError,
    FeedWriter,
    GeocodeEntity,
    GeocodeRequest,
    Issue,
    Limits,
    convert_feed,
    open_feed,
)

V = "Bing Spatial Data Services, 2.0"
SURROGATE_CELL = '1,"[{""Latitude"":""\\ud800"",""Longitude"":""2""}]"'
POINTS = "Id,GeocodeResponse/GeocodePoints"


def feed(*rows: str, header: str = "Id,GeocodeRequest/Query") -> bytes:
    return "\n".join([V, header, *rows, ""]).encode()


@pytest.mark.parametrize("target", ["xml", "csv", "tab"])
def test_a_lone_surrogate_in_a_json_cell_is_a_feed_error_not_a_crash(target):
    with pytest.raises(FeedError) as info:
        convert_feed(io.BytesIO(feed(SURROGATE_CELL, header=POINTS)), io.BytesIO(), target)
    assert (info.value.code, info.value.line) == ("invalid-json", 3)
    assert "lone surrogate" in str(info.value)


def test_a_surrogate_pair_escape_is_a_character_and_converts():
    cell = '1,"[{""Latitude"":""\\ud83d\\ude00"",""Longitude"":""2""}]"'
    out = io.BytesIO()
    assert convert_feed(io.BytesIO(feed(cell, header=POINTS)), out, "xml") == 1
    assert "\U0001f600" in out.getvalue().decode("utf-8")


def test_cli_convert_of_a_lone_surrogate_exits_one_with_one_line(tmp_path, capsys):
    source = tmp_path / "surrogate.csv"
    source.write_bytes(feed(SURROGATE_CELL, header=POINTS))
    target = tmp_path / "out.xml"
    assert cli.main(["convert", str(source), "--to", "xml", "-o", str(target)]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.startswith("geocode-dataflow: error: ") and "lone surrogate" in err
    assert "(line 3, entity '1')" in err
    assert not target.exists() and not list(tmp_path.glob(".*.part"))


def test_control_characters_become_u_fffd_in_xml_and_are_counted():
    losses: list[Issue] = []
    out = io.BytesIO()
    data = feed("1,bell\x07 and \x1b escape", "2,plain")
    convert_feed(io.BytesIO(data), out, "xml", losses=losses)
    assert [(i.code, i.line, i.entity_id, i.count) for i in losses] == [
        ("replaced-characters", 3, "1", 2)
    ]
    assert "U+FFFD" in losses[0].message
    (first, second) = list(open_feed(io.BytesIO(out.getvalue())))
    assert first.geocode_request.query == "bell\ufffd and \ufffd escape"
    assert second.geocode_request.query == "plain"
    # NUL is refused on reading already (binary data): it never reaches a writer.
    with pytest.raises(FeedError) as info:
        convert_feed(io.BytesIO(feed("3,\x00nul")), io.BytesIO(), "xml")
    assert info.value.code == "nul-character"


def test_text_keeps_control_characters():
    losses: list[Issue] = []
    out = io.BytesIO()
    convert_feed(io.BytesIO(feed("1,bell\x07")), out, "pipe", losses=losses)
    assert losses == [] and "bell\x07" in out.getvalue().decode()


def test_cli_convert_reports_replaced_characters_on_stderr(tmp_path, capsys):
    source = tmp_path / "controls.csv"
    source.write_bytes(feed("1,a\x01b\x02", "2,c\x03", "3,plain"))
    target = tmp_path / "out.xml"
    assert cli.main(["convert", str(source), "--to", "xml", "-o", str(target)]) == 0
    err = capsys.readouterr().err
    assert "3 character(s) in 2 entities cannot be written as xml" in err
    assert "line 3, entity '1', 2 times" in err and "line 4, entity '2'" in err
    assert target.read_bytes().count("\ufffd".encode()) == 3


def test_cli_convert_reports_what_text_cannot_carry(tmp_path, capsys):
    source = tmp_path / "options.xml"
    source.write_bytes(
        b'<GeocodeFeed Version="2.0"><GeocodeEntity Id="1">'
        b'<GeocodeRequest Query="q" MaxResults="5"/></GeocodeEntity></GeocodeFeed>'
    )
    assert cli.main(["convert", str(source), "--to", "csv", "-o", str(tmp_path / "o.csv")]) == 0
    err = capsys.readouterr().err
    assert "1 entities lost values csv cannot carry" in err and "MaxResults=5" in err


@pytest.mark.parametrize("fmt", ["xml", "csv"])
def test_writers_replace_a_lone_surrogate_of_a_built_entity_and_count_it(fmt):
    sink = io.BytesIO()
    broken = GeocodeEntity(id="1", geocode_request=GeocodeRequest(query="a\udc80"))
    fine = GeocodeEntity(id="2", geocode_request=GeocodeRequest(query="ok"))
    with FeedWriter(sink, fmt) as writer:
        assert writer.write(broken) == 1
        assert writer.write(fine) == 0
    assert writer.replaced == 1
    (first, _) = list(open_feed(io.BytesIO(sink.getvalue()), fmt=fmt))
    assert first.geocode_request.query == "a\ufffd"


def test_convert_under_limits_stops_at_the_first_entity_over_them(tmp_path, capsys):
    rows = [f"{i},q" for i in range(60)]
    with pytest.raises(FeedError) as info:
        convert_feed(io.BytesIO(feed(*rows)), io.BytesIO(), "xml", limits=Limits.basic())
    assert (info.value.code, info.value.line) == ("too-many-entities", 53)
    assert convert_feed(io.BytesIO(feed(*rows)), io.BytesIO(), "xml") == 60

    source = tmp_path / "many.csv"
    source.write_bytes(feed(*rows))
    assert cli.main(["convert", str(source), "--to", "xml", "--basic"]) == 1
    assert "more than 50 entities" in capsys.readouterr().err
