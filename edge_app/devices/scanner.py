"""Scanner bytes -> scan lines -> GTIN-14: the pure core of the scanner reader.

A lane scanner in USB CDC / RS-232 mode sends one line per read. Two small
pure pieces turn that byte stream into ``edge_app.events.Scan``:

* ``ScanFramer`` cuts bytes into lines (partial lines across reads, CR / LF /
  CRLF, prefix and suffix stripped) and drops, and counts, what cannot be a
  code: overlong lines, non-printable garbage, empty lines.
* ``parse_code`` reads the AIM symbology identifier (``]E0`` …) when the
  scanner sends one, guesses from the length when it does not, checks the GTIN
  check digit, reads GS1 element strings, expands UPC-E, and normalises every
  trade item number to GTIN-14.

Codes that are not trade items (Code 39, plain Code 128, plain QR: loyalty
cards, staff badges, coupons) are *rejected* with reason ``not_an_item``: the
CheckoutEngine matches scans to items in the bag, and a loyalty card is not an
item. They are counted, never silently lost.

No I/O here: ``serial_reader.ScannerReader`` is the shell that feeds it.

>>> framer = ScanFramer()
>>> framer.feed(b"]E05000112637939\\r\\n]E4963")
[Frame(text=']E05000112637939', raw=b']E05000112637939')]
>>> [f.text for f in framer.feed(b"85074\\n")]
[']E496385074']
>>> code = parse_code("]E496385074")
>>> code.gtin, code.symbology
('00000096385074', 'EAN-8')
>>> parse_code("]A0LOYALTY-1234").reason
'not_an_item'
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from stdnum import ean

from edge_app.events import Scan

Terminator = Literal["auto", "cr", "lf", "crlf"]

GS = "\x1d"  # FNC1 as transmitted inside GS1 element strings
_PRINTABLE = frozenset(range(0x20, 0x7F)) | {0x1D}

REJECT_REASONS = ("bad_check", "unknown", "not_an_item", "addon_only", "bad_gs1")


# --------------------------------------------------------------------------
# Framing
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Frame:
    """One line from the scanner: ``text`` without terminator/prefix/suffix."""

    text: str
    raw: bytes


class ScanFramer:
    """Cuts a scanner byte stream into lines; never raises on bad input.

    ``counters`` holds ``frames`` (lines handed on) and ``dropped_<reason>``
    for ``overlong``, ``garbage``, ``empty`` and ``partial`` (bytes left when
    the device went away, see ``reset``).

    >>> f = ScanFramer(terminator="crlf", prefix="\\x02")
    >>> [x.text for x in f.feed(b"\\x020123\\r\\n\\xff\\xfe\\r\\n\\r\\n")]
    ['0123']
    >>> f.counters["dropped_garbage"], f.counters["dropped_empty"]
    (1, 1)
    """

    def __init__(
        self,
        terminator: Terminator = "auto",
        prefix: str = "",
        suffix: str = "",
        max_line_bytes: int = 256,
    ) -> None:
        if terminator not in ("auto", "cr", "lf", "crlf"):
            raise ValueError(f"terminator must be auto, cr, lf or crlf, got {terminator!r}")
        self.terminator = terminator
        self.prefix = prefix.encode("latin-1")
        self.suffix = suffix.encode("latin-1")
        self.max_line_bytes = max_line_bytes
        self.counters: dict[str, int] = {
            "frames": 0,
            "dropped_overlong": 0,
            "dropped_garbage": 0,
            "dropped_empty": 0,
            "dropped_partial": 0,
        }
        self._buf = bytearray()
        self._overlong = False  # inside a too-long line: skip to its end
        self._after_cr = False  # auto/crlf: the previous byte was CR

    def feed(self, data: bytes) -> list[Frame]:
        """Bytes in, complete lines out; partial lines wait for the next call."""
        frames: list[Frame] = []
        for byte in data:
            kind = self._classify(byte)
            if kind == "end":
                self._end_line(frames)
            elif kind == "data" and not self._overlong:
                self._buf.append(byte)
                if len(self._buf) > self.max_line_bytes:
                    self.counters["dropped_overlong"] += 1
                    self._buf.clear()
                    self._overlong = True
        return frames

    def reset(self) -> None:
        """Forget a partial line (the device went away mid-line)."""
        if self._buf and not self._overlong:
            self.counters["dropped_partial"] += 1
        self._buf.clear()
        self._overlong = False
        self._after_cr = False

    def _classify(self, byte: int) -> str:
        """'end' of a line, 'skip' (the LF of a CRLF in auto mode) or 'data'."""
        after_cr, self._after_cr = self._after_cr, byte == 0x0D
        if self.terminator == "cr":
            return "end" if byte == 0x0D else "data"
        if self.terminator == "lf":
            return "end" if byte == 0x0A else "data"
        if self.terminator == "crlf":
            if byte == 0x0A and after_cr:
                if self._buf and self._buf[-1] == 0x0D:
                    del self._buf[-1]
                return "end"
            return "data"
        # auto: CR, LF or CRLF; the LF of a CRLF is swallowed, not an empty line
        if byte == 0x0A and after_cr:
            return "skip"
        return "end" if byte in (0x0D, 0x0A) else "data"

    def _end_line(self, frames: list[Frame]) -> None:
        line = bytes(self._buf)
        self._buf.clear()
        if self._overlong:
            self._overlong = False
            return
        line = line.strip(b"\r\n")
        if self.prefix and line.startswith(self.prefix):
            line = line[len(self.prefix) :]
        if self.suffix and line.endswith(self.suffix):
            line = line[: -len(self.suffix)]
        if not line:
            self.counters["dropped_empty"] += 1
        elif any(b not in _PRINTABLE for b in line):
            self.counters["dropped_garbage"] += 1
        else:
            self.counters["frames"] += 1
            frames.append(Frame(text=line.decode("ascii"), raw=line))


# --------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class ParsedCode:
    """A trade item code: GTIN-14 plus the other GS1 fields it carried."""

    gtin: str
    symbology: str
    aim: str = ""
    ais: dict = field(default_factory=dict)  # GS1 application identifiers, e.g. {"17": "261231"}
    addon: str = ""


@dataclass(frozen=True)
class Rejection:
    """Why a line is not a scan of an item (counted as ``dropped_<reason>``)."""

    reason: str
    detail: str = ""
    symbology: str = ""


ParseResult = ParsedCode | Rejection

#: AIM code character -> symbology name, for codes that are never items.
_NON_ITEM = {
    "A": "Code 39",
    "C": "Code 128",
    "F": "Codabar",
    "G": "Code 93",
    "H": "Code 11",
    "L": "PDF417",
    "Q": "QR Code",
    "d": "Data Matrix",
    "z": "Aztec",
    "S": "Standard 2 of 5",
    "X": "other",
}
#: (code, modifier) pairs whose data is a GS1 element string.
_GS1_AIM = {
    ("C", "1"): "GS1-128",
    ("e", "0"): "GS1 DataBar",
    ("d", "2"): "GS1 DataMatrix",
    ("Q", "3"): "GS1 QR",
    ("J", "1"): "GS1 DotCode",
}

_AIM = re.compile(r"^\](?P<code>[A-Za-z])(?P<mod>[0-9A-Za-z])")
_DIGITS = re.compile(r"^[0-9]+$")
_DIGITAL_LINK = re.compile(r"^https?://[^/]+(?:/[^/]+)*?/01/(?P<gtin>[0-9]{8,14})(?:[/?#]|$)")


def parse_code(text: str) -> ParseResult:
    """Read one scanner line; a ``ParsedCode`` with a GTIN-14, or a ``Rejection``.

    >>> parse_code("]E0036000291452").symbology      # UPC-A sent as EAN-13
    'UPC-A'
    >>> parse_code("]E00425261").gtin                  # UPC-E, expanded via UPC-A
    '00042100005264'
    >>> p = parse_code("]C1010950600013435217261231" + GS + "10LOT7")
    >>> p.gtin, p.ais["17"], p.ais["10"]
    ('09506000134352', '261231', 'LOT7')
    >>> parse_code("5000112637938").reason            # wrong check digit
    'bad_check'
    """
    m = _AIM.match(text)
    if m:
        return _parse_aim(m.group("code"), m.group("mod"), text[3:], text[:3])
    return _parse_bare(text)


def _parse_aim(code: str, mod: str, data: str, aim: str) -> ParseResult:
    if code == "E":
        if mod in ("1", "2"):
            # ISO/IEC 15424: E1/E2 are a 2/5-digit add-on sent on its own. Some
            # scanners misuse E1 for UPC-E, so 6-8 digits are read as UPC-E.
            if _DIGITS.match(data) and 6 <= len(data) <= 8:
                return _upce(data, aim)
            return Rejection("addon_only", f"add-on {data!r} without its main symbol", "EAN add-on")
        if mod == "3":
            return _with_addon(data, aim)
        if mod == "4":
            return _gtin(data, "EAN-8", aim) if len(data) == 8 else _unknown(data, "EAN-8")
        if mod == "0":
            return _ean_family(data, aim)
        return _unknown(data, f"EAN/UPC modifier {mod}")
    if (code, mod) in _GS1_AIM:
        return _gs1(data, _GS1_AIM[(code, mod)], aim)
    if code == "I":  # Interleaved 2 of 5: ITF-14 carries a GTIN-14 on outer cases
        if len(data) == 14 and _DIGITS.match(data):
            return _gtin(data, "ITF-14", aim)
        return Rejection("not_an_item", f"ITF {data!r}", "Interleaved 2 of 5")
    if code == "Q" and _DIGITAL_LINK.match(data):
        return _digital_link(data, aim)
    if code in _NON_ITEM:
        return Rejection("not_an_item", f"{_NON_ITEM[code]} {data[:32]!r}", _NON_ITEM[code])
    return _unknown(data, f"AIM {aim}")


def _parse_bare(text: str) -> ParseResult:
    """No AIM id: guess from the shape (AIM ids on removes the guessing)."""
    if _DIGITS.match(text):
        n = len(text)
        if n == 13:
            return _gtin(text, "UPC-A" if text[0] == "0" else "EAN-13")
        if n == 12:
            return _gtin(text, "UPC-A")
        if n == 14:
            return _gtin(text, "GTIN-14")
        if n == 8:
            # UPC-E (number system 0) and EAN-8 look alike; GS1-8 prefix 0 is
            # restricted to in-store use, so a leading 0 is read as UPC-E.
            if text[0] == "0" and _upce_gtin(text) is not None:
                return _upce(text, "")
            return _gtin(text, "EAN-8")
        if n in (6, 7):
            return _upce(text, "")
        if n >= 16 and text.startswith(("01", "02")):
            return _gs1(text, "GS1", "")
        return _unknown(text, f"{n} digits")
    if GS in text and text[:2].isdigit():
        return _gs1(text, "GS1", "")
    if _DIGITAL_LINK.match(text):
        return _digital_link(text, "")
    return Rejection("not_an_item", f"text {text[:32]!r}", "unknown")


def _unknown(data: str, what: str) -> Rejection:
    return Rejection("unknown", f"{what}: {data[:32]!r}")


def _gtin(digits: str, symbology: str, aim: str = "", **extra) -> ParseResult:
    if not _DIGITS.match(digits) or len(digits) not in (8, 12, 13, 14):
        return _unknown(digits, symbology)
    if not ean.is_valid(digits):
        return Rejection("bad_check", f"{symbology} {digits}", symbology)
    return ParsedCode(gtin=digits.zfill(14), symbology=symbology, aim=aim, **extra)


def _ean_family(data: str, aim: str) -> ParseResult:
    """]E0: EAN-13 / UPC-A in 13 digits; some scanners send 12 (UPC-A) or 8 (UPC-E)."""
    if not _DIGITS.match(data):
        return _unknown(data, "EAN/UPC")
    if len(data) == 13:
        return _gtin(data, "UPC-A" if data[0] == "0" else "EAN-13", aim)
    if len(data) == 12:
        return _gtin(data, "UPC-A", aim)
    if len(data) in (6, 7, 8):
        return _upce(data, aim)
    return _unknown(data, "EAN/UPC")


def _with_addon(data: str, aim: str) -> ParseResult:
    """]E3: main symbol followed by its 2- or 5-digit add-on (periodicals, price)."""
    for main_len in (13, 12, 8):
        addon = data[main_len:]
        if len(addon) in (2, 5):
            main = (
                _ean_family(data[:main_len], aim)
                if main_len != 8
                else _gtin(data[:8], "EAN-8", aim)
            )
            if isinstance(main, ParsedCode):
                return ParsedCode(main.gtin, main.symbology, aim, main.ais, addon)
    return _unknown(data, "EAN/UPC with add-on")


def upce_to_upca(upce: str) -> str | None:
    """Expand UPC-E (6, 7 or 8 digits) to the 12-digit UPC-A it stands for.

    6 digits: number system 0, check digit computed; 7: number system plus 6;
    8: number system, 6, check digit (returned as sent, so it can be checked).

    >>> upce_to_upca("425261")
    '042100005264'
    """
    if not _DIGITS.match(upce) or len(upce) not in (6, 7, 8):
        return None
    if len(upce) == 6:
        ns, body, check = "0", upce, None
    else:
        ns, body, check = upce[0], upce[1:7], (upce[7] if len(upce) == 8 else None)
    if ns not in "01":
        return None
    d1, d2, d3, d4, d5, d6 = tuple(body)
    if d6 in "012":
        core = f"{d1}{d2}{d6}0000{d3}{d4}{d5}"
    elif d6 == "3":
        core = f"{d1}{d2}{d3}00000{d4}{d5}"
    elif d6 == "4":
        core = f"{d1}{d2}{d3}{d4}00000{d5}"
    else:
        core = f"{d1}{d2}{d3}{d4}{d5}0000{d6}"
    eleven = ns + core
    return eleven + (check if check is not None else ean.calc_check_digit(eleven))


def _upce_gtin(upce: str) -> str | None:
    upca = upce_to_upca(upce)
    return upca if upca and ean.is_valid(upca) else None


def _upce(data: str, aim: str) -> ParseResult:
    upca = upce_to_upca(data)
    if upca is None:
        return _unknown(data, "UPC-E")
    if not ean.is_valid(upca):
        return Rejection("bad_check", f"UPC-E {data} (UPC-A {upca})", "UPC-E")
    return ParsedCode(gtin=upca.zfill(14), symbology="UPC-E", aim=aim)


# GS1 General Specifications: AI length and "predefined length" data (no FNC1
# needed after them), both decided by the first two digits of the AI.
_AI_DIGITS_3 = ("23", "24", "25", "40", "41", "42", "71")
_AI_DIGITS_4 = ("31", "32", "33", "34", "35", "36", "39", "43", "70", "72", "80", "81", "82")
_PREDEFINED = {
    "00": 18,
    "01": 14,
    "02": 14,
    "03": 14,
    "04": 16,
    "11": 6,
    "12": 6,
    "13": 6,
    "14": 6,
    "15": 6,
    "16": 6,
    "17": 6,
    "18": 6,
    "19": 6,
    "20": 2,
    "31": 6,
    "32": 6,
    "33": 6,
    "34": 6,
    "35": 6,
    "36": 6,
    "41": 13,
}


def parse_element_string(data: str) -> dict[str, str]:
    """GS1 element string (FNC1 sent as GS) -> {AI: value}; ValueError if malformed.

    >>> parse_element_string("0109506000134352" "3103000250" "10ABC" + GS + "21X9")
    {'01': '09506000134352', '3103': '000250', '10': 'ABC', '21': 'X9'}
    """
    ais: dict[str, str] = {}
    i, n = 0, len(data)
    while i < n:
        if data[i] == GS:
            i += 1
            continue
        head = data[i : i + 2]
        if len(head) < 2 or not head.isdigit():
            raise ValueError(f"no application identifier at {i}: {data[i : i + 8]!r}")
        width = 3 if head in _AI_DIGITS_3 else 4 if head in _AI_DIGITS_4 else 2
        ai = data[i : i + width]
        if len(ai) < width or not ai.isdigit():
            raise ValueError(f"truncated application identifier at {i}")
        i += width
        if head in _PREDEFINED and not (
            head == "41" and ai not in ("410", "411", "412", "413", "414", "415", "416", "417")
        ):
            size = _PREDEFINED[head]
            value = data[i : i + size]
            if len(value) < size or GS in value:
                raise ValueError(f"AI ({ai}) needs {size} characters")
            i += size
        else:
            end = data.find(GS, i)
            end = n if end < 0 else end
            value = data[i:end]
            i = end
            if not value:
                raise ValueError(f"AI ({ai}) is empty")
        if ai in ais:
            raise ValueError(f"AI ({ai}) repeated")
        ais[ai] = value
    return ais


def _gs1(data: str, symbology: str, aim: str) -> ParseResult:
    if data.startswith(GS):  # some scanners send the leading FNC1 too
        data = data[1:]
    try:
        ais = parse_element_string(data)
    except ValueError as exc:
        return Rejection("bad_gs1", str(exc), symbology)
    gtin = ais.pop("01", None) or ais.pop("02", None)
    if gtin is None:
        if symbology == "GS1 DataBar" and _DIGITS.match(data) and len(data) == 14:
            return _gtin(data, symbology, aim)  # DataBar sent without "01"
        return Rejection("not_an_item", f"GS1 without GTIN: {sorted(ais)}", symbology)
    return _gtin(gtin, symbology, aim, ais=ais)


def _digital_link(url: str, aim: str) -> ParseResult:
    """GS1 Digital Link URI in a QR code (https://id.gs1.org/01/<gtin>/…)."""
    m = _DIGITAL_LINK.match(url)
    assert m is not None
    digits = m.group("gtin")
    return (
        _gtin(digits, "GS1 Digital Link", aim)
        if len(digits) in (8, 12, 13, 14)
        else _unknown(url, "Digital Link")
    )


# --------------------------------------------------------------------------
# Frames -> Scans
# --------------------------------------------------------------------------


def frame_to_scan(frame: Frame | str, ts: float, scanner_id: str) -> Scan | Rejection:
    """One line -> the lane's ``Scan`` (GTIN-14), or the ``Rejection``.

    >>> frame_to_scan("]E05000112637939", ts=2.0, scanner_id="flatbed").gtin
    '05000112637939'
    """
    text = frame.text if isinstance(frame, Frame) else frame
    parsed = parse_code(text)
    if isinstance(parsed, Rejection):
        return parsed
    return Scan(
        ts=ts, scanner_id=scanner_id, gtin=parsed.gtin, symbology=parsed.symbology, raw=text
    )


class ScanDecoder:
    """Framer + parser for one scanner: bytes and a timestamp in, Scans out.

    ``counters`` adds ``scans`` and ``dropped_<reason>`` for parse rejections
    to the framer's counters; ``last_rejection`` keeps the latest for logs.
    """

    def __init__(
        self,
        scanner_id: str,
        terminator: Terminator = "auto",
        prefix: str = "",
        suffix: str = "",
        max_line_bytes: int = 256,
    ) -> None:
        self.scanner_id = scanner_id
        self.framer = ScanFramer(terminator, prefix, suffix, max_line_bytes)
        self.counters = self.framer.counters
        self.counters["scans"] = 0
        for reason in REJECT_REASONS:
            self.counters[f"dropped_{reason}"] = 0
        self.last_rejection: Rejection | None = None

    @classmethod
    def from_config(cls, config) -> ScanDecoder:
        """From an ``edge_app.config.ScannerConfig``."""
        return cls(
            config.id, config.terminator, config.prefix, config.suffix, config.max_line_bytes
        )

    def feed(self, data: bytes, ts: float) -> list[Scan]:
        scans: list[Scan] = []
        for frame in self.framer.feed(data):
            result = frame_to_scan(frame, ts, self.scanner_id)
            if isinstance(result, Rejection):
                self.counters[f"dropped_{result.reason}"] = (
                    self.counters.get(f"dropped_{result.reason}", 0) + 1
                )
                self.last_rejection = result
            else:
                self.counters["scans"] += 1
                scans.append(result)
        return scans
