"""`edge-app scanner listen|sim` against real ptys."""

import argparse
import io
import json
import queue
import threading
import time

from edge_app.config import ScannerConfig
from edge_app.devices.scanner import GS
from edge_app.devices.serial_reader import ScannerReader
from edge_app.devices.virtual_scanner import VirtualScanner
from edge_app.tools.scanner_cli import cmd_listen, cmd_sim, register

WAIT_S = 5.0


def parse(argv):
    parser = argparse.ArgumentParser(prog="edge-app")
    register(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


def test_register_wires_both_commands():
    assert parse(["scanner", "listen", "--port", "/dev/ttyACM0"]).func is cmd_listen
    args = parse(["scanner", "sim", "--link", "/tmp/x"])
    assert args.func is cmd_sim and args.terminator == "crlf"


def test_listen_shows_raw_bytes_and_parse_results(tmp_path):
    with VirtualScanner() as vs:
        args = parse(["scanner", "listen", "--port", vs.path, "--json", "--count", "3"])
        out = io.StringIO()
        worker = threading.Thread(target=lambda: cmd_listen(args, out=out))
        worker.start()
        assert vs.wait_for_reader(WAIT_S)
        vs.write(b"]E05000112637939\r\n]A0CARD\r\n]C10109506000134352" + GS.encode() + b"10L1\r\n")
        worker.join(WAIT_S)
        assert not worker.is_alive()
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(r["ok"], r.get("gtin"), r.get("reason")) for r in rows] == [
        (True, "05000112637939", None),
        (False, None, "not_an_item"),
        (True, "09506000134352", None),
    ]
    assert rows[0]["raw_hex"].startswith("5d 45 30")  # "]E0"
    assert rows[2]["ais"] == {"10": "L1"}


def test_listen_on_a_missing_port_fails_cleanly(tmp_path, capsys):
    assert cmd_listen(parse(["scanner", "listen", "--port", str(tmp_path / "none")])) == 2
    assert "cannot open" in capsys.readouterr().err


def sim_into_a_reader(codes, link, expected: int):
    """Run `scanner sim --file codes` into a real ScannerReader; (gtins read, exit codes, output)."""
    args = parse(
        ["scanner", "sim", "--file", str(codes), "--link", str(link), "--delay-ms", "0"]
        + ["--wait-s", str(WAIT_S), "--linger-s", "0.3"]
    )
    out = io.StringIO()
    rc: list = []
    sim = threading.Thread(target=lambda: rc.append(cmd_sim(args, out=out)))
    sim.start()
    end = time.monotonic() + WAIT_S
    while not link.is_symlink() and time.monotonic() < end:
        time.sleep(0.01)
    scans: queue.Queue = queue.Queue()
    reader = ScannerReader(
        ScannerConfig(id="sim", port=str(link)), time.monotonic, scans.put, lambda s: None
    )
    reader.start()
    try:
        got = [scans.get(timeout=WAIT_S).gtin for _ in range(expected)]
    finally:
        sim.join(WAIT_S)
        reader.stop()
    return got, rc, out.getvalue()


def test_sim_types_a_file_into_a_lane(tmp_path):
    codes = tmp_path / "codes.txt"
    codes.write_text("# a basket\n5000112637939\n\n]C10109506000134352<GS>10LOT\n96385074\n")
    link = tmp_path / "scanner"
    got, rc, out = sim_into_a_reader(codes, link, 3)
    assert got == ["05000112637939", "09506000134352", "00000096385074"]
    assert rc == [0] and f"virtual scanner at {link}" in out
    assert not link.exists()  # the link goes with the virtual scanner


def test_sim_skips_lines_no_scanner_could_send_and_goes_on(tmp_path):
    """A non-UTF-8 line crashed `scanner sim` (UnicodeDecodeError), so did a '€' (not latin-1)."""
    codes = tmp_path / "codes.bin"
    codes.write_bytes(b"\xff\xfe\x00garbage\n" + "Preis 5\u20ac\n".encode() + b"5000112637939\n")
    got, rc, out = sim_into_a_reader(codes, tmp_path / "scanner", 1)
    assert got == ["05000112637939"]
    assert rc == [0]
    assert "skipped line 1" in out and "skipped line 2" in out
