"""ScannerReader through a real pty: scans out, unplug -> down, replug -> ok, nothing lost."""

import queue
import time

import pytest

from edge_app.config import ScannerConfig
from edge_app.devices.serial_reader import ScannerReader, backoff_delays
from edge_app.devices.virtual_scanner import VirtualScanner
from edge_app.events import DeviceStatus, Scan

WAIT_S = 5.0  # generous: a condition to wait for, not a speed requirement


class Lane:
    """Collects what the reader hands on, as the app's engine queue would."""

    def __init__(self):
        self.scans: queue.Queue[Scan] = queue.Queue()
        self.statuses: queue.Queue[DeviceStatus] = queue.Queue()
        self.beats = 0

    def beat(self):
        self.beats += 1

    def next_status(self) -> DeviceStatus:
        return self.statuses.get(timeout=WAIT_S)

    def take_scans(self, n: int) -> list[Scan]:
        return [self.scans.get(timeout=WAIT_S) for _ in range(n)]


@pytest.fixture
def scanner(tmp_path):
    vs = VirtualScanner(link=tmp_path / "scanner-flatbed")
    yield vs
    vs.close()


def make_reader(port: str, lane: Lane, **overrides) -> ScannerReader:
    cfg = ScannerConfig(
        id="flatbed", port=port, reconnect_initial_ms=20, reconnect_max_ms=100, **overrides
    )
    return ScannerReader(
        cfg, time.monotonic, lane.scans.put, lane.statuses.put, on_heartbeat=lane.beat
    )


def test_codes_through_a_pty_come_out_as_scans(scanner):
    lane = Lane()
    reader = make_reader(scanner.path, lane)
    reader.start()
    try:
        assert lane.next_status().status == "ok"
        scanner.scan("]E05000112637939")
        scanner.write(b"]E4963")  # a line split across two USB packets
        scanner.write(b"85074\r\n]A0LOYALTY\r\n\xff\xfe\r\n")
        scans = lane.take_scans(2)
        assert [(s.gtin, s.symbology, s.scanner_id) for s in scans] == [
            ("05000112637939", "EAN-13", "flatbed"),
            ("00000096385074", "EAN-8", "flatbed"),
        ]
        total = len(b"]E05000112637939\r\n]E496385074\r\n]A0LOYALTY\r\n\xff\xfe\r\n")
        assert reader.wait_for_bytes(total, WAIT_S)
        stats = reader.stats
        assert stats["bytes_received"] == total
        assert (stats["scans"], stats["dropped_not_an_item"], stats["dropped_garbage"]) == (2, 1, 1)
        assert scans[0].ts <= scans[1].ts
        assert lane.beats > 0
    finally:
        reader.stop()


def test_unplug_then_replug_reconnects_and_loses_no_later_scan(scanner):
    lane = Lane()
    reader = make_reader(scanner.path, lane)
    reader.start()
    try:
        assert lane.next_status().status == "ok"
        scanner.scan("5000112637939")
        assert lane.take_scans(1)[0].gtin == "05000112637939"

        scanner.write(b"50001")  # half a code, then the cable is pulled
        reader.wait_for_bytes(len(b"5000112637939\r\n") + 5, WAIT_S)
        scanner.unplug()
        down = lane.next_status()
        assert (down.component, down.status) == ("scanner/flatbed", "down")

        scanner.replug()
        assert lane.next_status().status == "ok"
        for code in ("]E0036000291452", "]E496385074"):
            scanner.scan(code)
        assert [s.gtin for s in lane.take_scans(2)] == ["00036000291452", "00000096385074"]
        stats = reader.stats
        assert stats["reconnects"] == 1 and stats["dropped_partial"] == 1
        assert lane.scans.empty()  # the half code did not glue onto the next one
    finally:
        reader.stop()


def test_missing_port_reports_down_then_comes_up(tmp_path):
    lane = Lane()
    link = tmp_path / "not-yet"
    reader = make_reader(str(link), lane)
    reader.start()
    try:
        down = lane.next_status()
        assert down.status == "down" and "cannot open" in down.detail
        with VirtualScanner(link=link) as vs:  # the scanner is plugged in later
            assert lane.next_status().status == "ok"
            vs.scan("]E05000112637939")
            assert lane.take_scans(1)[0].gtin == "05000112637939"
        assert lane.next_status().status == "down"
    finally:
        reader.stop()
    assert lane.statuses.empty()  # one status per change, no repeats while down


def test_a_failing_consumer_does_not_kill_the_reader(scanner):
    seen = []

    def flaky(scan):
        seen.append(scan)
        if len(seen) == 1:
            raise RuntimeError("engine queue full")

    statuses = queue.Queue()
    cfg = ScannerConfig(id="hand", port=scanner.path, reconnect_initial_ms=20, reconnect_max_ms=100)
    reader = ScannerReader(cfg, time.monotonic, flaky, statuses.put)
    reader.start()
    try:
        assert statuses.get(timeout=WAIT_S).status == "ok"
        scanner.scan("5000112637939")
        scanner.scan("96385074")
        assert reader.wait_for_bytes(len(b"5000112637939\r\n96385074\r\n"), WAIT_S)
        assert [s.gtin for s in seen] == ["05000112637939", "00000096385074"]
    finally:
        reader.stop()


def test_backoff_doubles_to_the_ceiling():
    delays = backoff_delays(500, 15000)
    assert [next(delays) for _ in range(7)] == [0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 15.0]
