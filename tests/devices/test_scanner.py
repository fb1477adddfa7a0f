"""Scanner framing and code parsing: the pure core, every symbology, fuzzed."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum import ean

from edge_app.devices.scanner import (
    GS,
    ParsedCode,
    Rejection,
    ScanDecoder,
    ScanFramer,
    frame_to_scan,
    parse_code,
    parse_element_string,
    upce_to_upca,
)
from edge_app.events import Scan

GTIN = "09506000134352"  # GS1's own example GTIN-14


@pytest.mark.parametrize(
    "line, gtin, symbology",
    [
        ("]E05000112637939", "05000112637939", "EAN-13"),
        ("]E00036000291452", "00036000291452", "UPC-A"),
        ("]E0036000291452", "00036000291452", "UPC-A"),
        ("]E004252614", "00042100005264", "UPC-E"),
        ("]E00425261", "00042100005264", "UPC-E"),
        ("]E104252614", "00042100005264", "UPC-E"),
        ("]E496385074", "00000096385074", "EAN-8"),
        ("]C1" + "01" + GTIN, GTIN, "GS1-128"),
        ("]e0" + "01" + GTIN, GTIN, "GS1 DataBar"),
        ("]e0" + GTIN, GTIN, "GS1 DataBar"),
        ("]d2" + "01" + GTIN + "17261231", GTIN, "GS1 DataMatrix"),
        ("]Q3" + "01" + GTIN + "10AB" + GS + "2112", GTIN, "GS1 QR"),
        ("]Q1https://id.gs1.org/01/" + GTIN + "/10/ABC", GTIN, "GS1 Digital Link"),
        ("]I110012345678902", "10012345678902", "ITF-14"),
        # no AIM id: guessed by length
        ("5000112637939", "05000112637939", "EAN-13"),
        ("036000291452", "00036000291452", "UPC-A"),
        ("10012345678902", "10012345678902", "GTIN-14"),
        ("96385074", "00000096385074", "EAN-8"),
        ("04252614", "00042100005264", "UPC-E"),
        ("425261", "00042100005264", "UPC-E"),
        ("01" + GTIN + "3103000250", GTIN, "GS1"),
    ],
)
def test_every_symbology_gives_gtin14(line, gtin, symbology):
    parsed = parse_code(line)
    assert isinstance(parsed, ParsedCode), parsed
    assert (parsed.gtin, parsed.symbology) == (gtin, symbology)
    assert len(parsed.gtin) == 14 and ean.is_valid(parsed.gtin)


def test_gs1_keeps_other_application_identifiers():
    parsed = parse_code("]d2" + GS + "01" + GTIN + "17261231" + "10LOT42" + GS + "21SER9")
    assert parsed.gtin == GTIN
    assert parsed.ais == {"17": "261231", "10": "LOT42", "21": "SER9"}


def test_addon_is_kept_and_addon_alone_is_not_an_item():
    parsed = parse_code("]E3" + "5000112637939" + "12")
    assert (parsed.gtin, parsed.addon) == ("05000112637939", "12")
    assert parse_code("]E212345").reason == "addon_only"


@pytest.mark.parametrize(
    "line, reason",
    [
        ("]E05000112637938", "bad_check"),
        ("5000112637938", "bad_check"),
        ("]E496385075", "bad_check"),
        ("]C1" + "01" + GTIN[:-1] + "3", "bad_check"),
        ("04252615", "bad_check"),  # UPC-E whose check does not match (not EAN-8 either)
        ("]A0LOYALTY1234", "not_an_item"),
        ("]C0STAFF-007", "not_an_item"),
        ("]Q1hello", "not_an_item"),
        ("]C1" + "10LOT1", "not_an_item"),  # GS1 but no GTIN
        ("]C1" + "01123", "bad_gs1"),  # truncated AI 01
        ("]Z0abc", "unknown"),
        ("12345", "unknown"),
        ("COUPON", "not_an_item"),
    ],
)
def test_rejections_have_reasons(line, reason):
    result = parse_code(line)
    assert isinstance(result, Rejection)
    assert result.reason == reason


def test_upce_expansion_rules():
    # one example per last-digit rule of UPC-E zero suppression
    assert upce_to_upca("123450")[:11] == "01200000345"
    assert upce_to_upca("123453")[:11] == "01230000045"
    assert upce_to_upca("123454")[:11] == "01234000005"
    assert upce_to_upca("123455")[:11] == "01234500005"
    assert upce_to_upca("223455") is not None and upce_to_upca("2234556") is None  # NS must be 0/1


def test_element_string_errors():
    with pytest.raises(ValueError):
        parse_element_string("01" + GTIN + "01" + GTIN)  # repeated AI
    with pytest.raises(ValueError):
        parse_element_string("xx12")


def test_frame_to_scan_builds_the_shared_event():
    scan = frame_to_scan("]E05000112637939", ts=3.25, scanner_id="flatbed")
    assert scan == Scan(
        ts=3.25,
        scanner_id="flatbed",
        gtin="05000112637939",
        symbology="EAN-13",
        raw="]E05000112637939",
    )


@pytest.mark.parametrize(
    "terminator, stream, lines",
    [
        ("auto", b"A1\rA2\nA3\r\nA4\r", ["A1", "A2", "A3", "A4"]),
        ("cr", b"A1\rA2\r\n", ["A1", "A2"]),  # LF left at the line edge is stripped
        ("lf", b"A1\nA2\r\nA3", ["A1", "A2"]),
        ("crlf", b"A1\r\nA2\rA3\r\n", ["A1", "A2\rA3"]),
    ],
)
def test_terminators(terminator, stream, lines):
    framer = ScanFramer(terminator=terminator)
    out = [f.text for f in framer.feed(stream)]
    # crlf: a lone CR inside a line is not printable -> dropped as garbage
    if terminator == "crlf":
        assert out == ["A1"] and framer.counters["dropped_garbage"] == 1
    else:
        assert out == lines


def test_crlf_split_across_reads_counts_once():
    framer = ScanFramer()
    assert [f.text for f in framer.feed(b"123\r")] == ["123"]
    assert framer.feed(b"\n456\r") != [] and framer.counters["dropped_empty"] == 0


def test_prefix_suffix_overlong_and_empty():
    framer = ScanFramer(prefix="\x02", suffix="\x03", max_line_bytes=16)
    out = framer.feed(b"\x025000112637939\x03\r\n" + b"9" * 40 + b"\r\n\r\n\x02ok\x03\n")
    assert [f.text for f in out] == ["5000112637939", "ok"]
    assert framer.counters["dropped_overlong"] == 1
    assert framer.counters["dropped_empty"] == 1


def test_overlong_line_memory_is_bounded():
    framer = ScanFramer(max_line_bytes=32)
    for _ in range(100):
        framer.feed(b"7" * 1000)
    assert len(framer._buf) <= 32
    assert framer.counters["dropped_overlong"] == 1
    assert [f.text for f in framer.feed(b"\r\n5000112637939\r\n")] == ["5000112637939"]


def test_decoder_counts_every_drop_reason():
    decoder = ScanDecoder("flatbed")
    stream = b"]E05000112637939\r\n]E05000112637938\r\n]A0CARD\r\n\xff\xfe\r\n\r\n12345\r\n"
    scans = decoder.feed(stream, ts=1.0)
    assert [s.gtin for s in scans] == ["05000112637939"]
    c = decoder.counters
    assert (
        c["scans"],
        c["dropped_bad_check"],
        c["dropped_not_an_item"],
        c["dropped_garbage"],
        c["dropped_empty"],
        c["dropped_unknown"],
    ) == (1, 1, 1, 1, 1, 1)


# ---------------------------------------------------------------- fuzzing


def _valid_codes():
    body12 = st.text("0123456789", min_size=12, max_size=12)
    body7 = st.text("0123456789", min_size=7, max_size=7)
    ean13 = body12.map(lambda b: b + ean.calc_check_digit(b))
    ean8 = body7.map(lambda b: "]E4" + b + ean.calc_check_digit(b))
    gs1 = st.text("0123456789", min_size=13, max_size=13).map(
        lambda b: "]C101" + b + ean.calc_check_digit(b) + "10LOT" + GS + "21X"
    )
    return st.one_of(ean13.map(lambda c: "]E0" + c), ean13, ean8, gs1)


def _expected_gtin(code: str) -> str:
    return parse_code(code).gtin


junk_line = st.binary(max_size=40).map(
    lambda b: b.replace(b"\r", b"").replace(b"\n", b"") + b"\xff"
)
overlong_line = st.binary(min_size=300, max_size=600).map(
    lambda b: b.replace(b"\r", b"!").replace(b"\n", b"!")
)


@settings(max_examples=150, deadline=None)
@given(data=st.binary(max_size=2000), cuts=st.lists(st.integers(0, 2000), max_size=20))
def test_random_bytes_never_raise_and_chunking_does_not_matter(data, cuts):
    whole = ScanDecoder("s")
    expected = whole.feed(data, ts=0.0)
    chunked = ScanDecoder("s")
    got, last = [], 0
    for cut in sorted(set(cuts)) + [len(data)]:
        got += chunked.feed(data[last:cut], ts=0.0)
        last = max(last, cut)
    assert got == expected
    assert chunked.counters == whole.counters
    c = whole.counters
    dropped_in_parse = sum(
        v
        for k, v in c.items()
        if k.startswith("dropped_")
        and k[8:] in ("bad_check", "unknown", "not_an_item", "addon_only", "bad_gs1")
    )
    assert c["frames"] == c["scans"] + dropped_in_parse


@settings(max_examples=150, deadline=None)
@given(
    lines=st.lists(
        st.one_of(
            _valid_codes().map(lambda c: ("ok", c)),
            junk_line.map(lambda j: ("junk", j)),
            overlong_line.map(lambda j: ("long", j)),
        ),
        max_size=25,
    ),
    terminator=st.sampled_from([b"\r", b"\n", b"\r\n"]),
    chunk=st.integers(1, 64),
)
def test_valid_codes_survive_interleaved_garbage(lines, terminator, chunk):
    stream = b"".join((c.encode() if kind == "ok" else c) + terminator for kind, c in lines)
    decoder = ScanDecoder("s", max_line_bytes=256)
    scans = []
    for i in range(0, len(stream), chunk):
        scans += decoder.feed(stream[i : i + chunk], ts=float(i))
    assert [s.gtin for s in scans] == [_expected_gtin(c) for kind, c in lines if kind == "ok"]
    assert decoder.counters["dropped_garbage"] == sum(kind == "junk" for kind, _ in lines)
    assert decoder.counters["dropped_overlong"] == sum(kind == "long" for kind, _ in lines)


@settings(max_examples=200, deadline=None)
@given(body=st.text("0123456789", min_size=12, max_size=12), delta=st.integers(1, 9))
def test_wrong_check_digit_is_always_caught(body, delta):
    wrong = str((int(ean.calc_check_digit(body)) + delta) % 10)
    decoder = ScanDecoder("s")
    assert decoder.feed(f"]E0{body}{wrong}\r\n".encode(), ts=0.0) == []
    assert decoder.counters["dropped_bad_check"] == 1
