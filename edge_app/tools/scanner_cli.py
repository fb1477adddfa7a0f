"""``edge-app scanner sim|listen``: tools for the technician at the lane.

* ``scanner sim`` makes a virtual scanner on a pty and types codes from a file
  or the keyboard into it; point a lane's ``scanners[].port`` at the printed
  path (or at ``--link``) to try a lane without hardware.
* ``scanner listen`` shows what a real scanner sends: each read in hex, then
  each line and how the lane parses it. The fastest way to see whether AIM ids
  are on, which terminator it uses, and whether a prefix is configured.

Typed or filed codes may write the GS1 separator as ``<GS>`` or ``\\x1d``;
``#`` starts a comment line in files.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import TextIO

from edge_app.devices.scanner import GS, ParsedCode, ScanFramer, parse_code

TERMINATORS = {"cr": b"\r", "lf": b"\n", "crlf": b"\r\n"}


def register(subparsers) -> None:
    """Add ``scanner sim`` and ``scanner listen`` to the CLI's ``add_subparsers()``."""
    scanner = subparsers.add_parser(
        "scanner", help="virtual scanner and serial listener for technicians"
    )
    sub = scanner.add_subparsers(dest="scanner_command", required=True)

    sim = sub.add_parser("sim", help="a virtual scanner on a pty that types codes")
    sim.add_argument("--file", help="codes, one per line (default: read stdin / keyboard)")
    sim.add_argument(
        "--link", help="stable symlink to create for the pty (use it as the lane's port)"
    )
    sim.add_argument("--terminator", choices=sorted(TERMINATORS), default="crlf")
    sim.add_argument("--delay-ms", type=int, default=300, help="pause between codes from a file")
    sim.add_argument(
        "--wait-s", type=float, default=60.0, help="how long to wait for the lane to open the port"
    )
    sim.add_argument(
        "--linger-s",
        type=float,
        default=2.0,
        help="keep the device plugged this long after the last code, so the lane reads it",
    )
    sim.set_defaults(func=cmd_sim)

    listen = sub.add_parser("listen", help="show raw bytes and parsed codes from a scanner port")
    listen.add_argument("--port", required=True, help="serial device or pyserial URL")
    listen.add_argument("--baudrate", type=int, default=9600)
    listen.add_argument("--terminator", choices=["auto", "cr", "lf", "crlf"], default="auto")
    listen.add_argument(
        "--prefix", default="", help="characters the scanner sends before each code"
    )
    listen.add_argument("--suffix", default="", help="characters the scanner sends after each code")
    listen.add_argument("--json", action="store_true", help="one JSON object per line read")
    listen.add_argument(
        "--count", type=int, default=0, help="stop after this many lines (0: until Ctrl-C)"
    )
    listen.set_defaults(func=cmd_listen)


def unescape(line: str) -> str:
    """What a technician types -> what the scanner would send.

    >>> unescape("]C10109506000134352<GS>10LOT") == "]C10109506000134352" + GS + "10LOT"
    True
    """
    return line.replace("<GS>", GS).replace("\\x1d", GS).replace("\\x1D", GS)


def _sendable(code: str) -> bool:
    """A scanner sends bytes 0-255 (latin-1), never U+FFFD for bytes that were not text."""
    try:
        code.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


def describe(text: str) -> dict:
    """The parse result of one line, as a JSON-ready dict."""
    parsed = parse_code(text)
    if isinstance(parsed, ParsedCode):
        return {
            "ok": True,
            "gtin": parsed.gtin,
            "symbology": parsed.symbology,
            "aim": parsed.aim,
            "ais": parsed.ais,
            "addon": parsed.addon,
        }
    return {
        "ok": False,
        "reason": parsed.reason,
        "detail": parsed.detail,
        "symbology": parsed.symbology,
    }


def cmd_sim(args: argparse.Namespace, stdin: TextIO | None = None, out: TextIO = sys.stdout) -> int:
    from edge_app.devices.virtual_scanner import VirtualScanner

    # a line that is not text, or has characters no scanner sends, is skipped and said, not fatal
    source = (
        open(args.file, encoding="utf-8", errors="replace") if args.file else (stdin or sys.stdin)
    )
    if hasattr(source, "reconfigure"):
        source.reconfigure(errors="replace")
    interactive = not args.file and source.isatty()
    with VirtualScanner(link=args.link, terminator=TERMINATORS[args.terminator]) as vs:
        print(
            f"virtual scanner at {vs.path}" + (f" -> {vs.tty_path}" if args.link else ""),
            file=out,
            flush=True,
        )
        print(
            f"set the lane's scanners[].port to {vs.path}; waiting for it to open the port …",
            file=out,
            flush=True,
        )
        if not vs.wait_for_reader(args.wait_s):
            print("nobody opened the port; giving up", file=out, flush=True)
            return 1
        if interactive:
            print("type a code and Enter to scan it; Ctrl-D to quit", file=out, flush=True)
        try:
            for n, line in enumerate(source, 1):
                code = unescape(line.strip())
                if not code or code.startswith("#"):
                    continue
                if not _sendable(code):
                    print(f"  skipped line {n}: {code!r} is nothing a scanner sends", file=out)
                    continue
                vs.scan(code)
                result = describe(code)
                print(
                    f"  scanned {code!r}: "
                    + (result["gtin"] if result["ok"] else f"rejected ({result['reason']})"),
                    file=out,
                    flush=True,
                )
                if args.file:
                    time.sleep(args.delay_ms / 1000)
            time.sleep(args.linger_s)
        except KeyboardInterrupt:
            pass
        finally:
            if args.file:
                source.close()
    return 0


def cmd_listen(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    import serial

    try:
        port = serial.serial_for_url(args.port, baudrate=args.baudrate, timeout=0.2, exclusive=True)
    except (serial.SerialException, OSError, ValueError) as exc:
        print(f"cannot open {args.port}: {exc}", file=sys.stderr)
        return 2
    framer = ScanFramer(args.terminator, args.prefix, args.suffix)
    lines = 0
    if not args.json:
        print(
            f"listening on {args.port} at {args.baudrate} baud; scan something (Ctrl-C to stop)",
            file=out,
            flush=True,
        )
    try:
        while not args.count or lines < args.count:
            data = port.read(max(1, port.in_waiting))
            if not data:
                continue
            if not args.json:
                print(
                    f"  read {len(data):3d} bytes: {data.hex(' ')}   {data!r}", file=out, flush=True
                )
            for frame in framer.feed(data):
                lines += 1
                result = describe(frame.text)
                if args.json:
                    print(
                        json.dumps({"raw_hex": frame.raw.hex(" "), "text": frame.text, **result}),
                        file=out,
                        flush=True,
                    )
                elif result["ok"]:
                    print(
                        f"  line {frame.text!r} -> GTIN {result['gtin']} ({result['symbology']}"
                        f"{', AIM ' + result['aim'] if result['aim'] else ', no AIM id'})"
                        f"{' AIs ' + str(result['ais']) if result['ais'] else ''}",
                        file=out,
                        flush=True,
                    )
                else:
                    print(
                        f"  line {frame.text!r} -> rejected: {result['reason']} "
                        f"({result['detail']})",
                        file=out,
                        flush=True,
                    )
                if args.count and lines >= args.count:
                    break
    except KeyboardInterrupt:
        pass
    except (serial.SerialException, OSError) as exc:
        print(f"port went away: {exc}", file=sys.stderr)
        return 1
    finally:
        port.close()
        dropped = {k: v for k, v in framer.counters.items() if k.startswith("dropped_") and v}
        if dropped and not args.json:
            print(f"dropped by the framer: {dropped}", file=out, flush=True)
    return 0
