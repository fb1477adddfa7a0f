"""The service unit, install script and udev rules: checked with the real tools, never installed."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "systemd" / "edge-app.service"
INSTALL = ROOT / "systemd" / "install.sh"
RULES = ROOT / "hardware" / "99-edge-app.rules"
INSTALLED_BIN = "/opt/edge-app/venv/bin/edge-app"


def directives(text: str) -> dict[str, list[str]]:
    """key -> values, section-blind (systemd allows repeated keys)."""
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            out.setdefault(key.strip(), []).append(value.strip())
    return out


def test_unit_has_notify_watchdog_restart_and_hardening():
    d = directives(UNIT.read_text())
    one = {k: v[-1] for k, v in d.items()}
    assert one["Type"] == "notify" and one["NotifyAccess"] == "main"
    assert int(one["WatchdogSec"]) >= 10
    assert (
        one["Restart"] == "on-failure"
        and "StartLimitBurst" in one
        and "StartLimitIntervalSec" in one
    )
    assert one["StateDirectory"] == "edge-app" and one["User"] == "edge-app"
    assert one["ExecStartPre"].split()[1] == "validate-config"
    assert one["ExecStart"].startswith(INSTALLED_BIN + " run --config %E/edge-app/lane.yaml")
    assert one["LoadCredential"].startswith("mqtt_password:")
    for key, value in {
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "NoNewPrivileges": "yes",
        "DevicePolicy": "closed",
    }.items():
        assert one[key] == value, key
    assert set(one["SupplementaryGroups"].split()) == {"dialout", "video", "gpio"}
    assert sorted(d["DeviceAllow"]) == [
        "char-gpiochip rw",
        "char-ttyACM rw",
        "char-ttyUSB rw",
        "char-video4linux rw",
    ]


def verify(unit_text: str, tmp_path: Path) -> subprocess.CompletedProcess:
    """`systemd-analyze verify` needs ExecStart= to exist: point a temp copy at a real executable.

    The installed path (/opt/edge-app/venv/bin/edge-app) does not exist on a
    test box; this checkout's console script (or, if the package is not
    installed, this Python) stands in. verify only checks that the binary is
    executable, it does not run it.
    """
    exe = shutil.which("edge-app", path=str(Path(sys.executable).parent)) or sys.executable
    unit = tmp_path / "edge-app.service"
    unit.write_text(unit_text.replace(INSTALLED_BIN, exe))
    env = {**os.environ, "SYSTEMD_LOG_LEVEL": "warning"}
    return subprocess.run(
        ["systemd-analyze", "verify", str(unit)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


needs_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="no systemd-analyze"
)


@needs_analyze
def test_systemd_analyze_verify_is_clean(tmp_path):
    result = verify(UNIT.read_text(), tmp_path)
    assert result.returncode == 0, result.stderr
    assert [line for line in result.stderr.splitlines() if "edge-app.service" in line] == []


@needs_analyze
@pytest.mark.parametrize(
    "broken",
    [
        ("Type=notify", "Type=notifyy"),
        ("WatchdogSec=", "WatchdgSec="),
        ("DeviceAllow=char-ttyACM rw", "DeviceAllow=char-ttyACM rwq"),
    ],
)
def test_verify_would_catch_a_typo(tmp_path, broken):
    result = verify(UNIT.read_text().replace(*broken, 1), tmp_path)
    assert result.returncode != 0 or "edge-app.service" in result.stderr


def test_install_script_parses_and_dry_run_changes_nothing(tmp_path):
    assert subprocess.run(["bash", "-n", str(INSTALL)]).returncode == 0
    lane = tmp_path / "lane.yaml"
    lane.write_text("store_id: s1\n")
    result = subprocess.run(
        [
            "bash",
            str(INSTALL),
            "--dry-run",
            "--config",
            str(lane),
            "--prefix",
            str(tmp_path / "opt"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    planned = [line for line in result.stdout.splitlines() if line.startswith("+ ")]
    assert any("venv" in line for line in planned)
    assert any(
        line.startswith("+ install -m 0644") and "99-edge-app.rules" in line for line in planned
    )
    assert "+ systemctl enable edge-app.service" in planned
    assert not (tmp_path / "opt").exists()  # dry run: nothing created


def test_install_script_rejects_unknown_options():
    result = subprocess.run(
        ["bash", str(INSTALL), "--dry-run", "--bogus"], capture_output=True, text=True
    )
    assert result.returncode == 2


@pytest.mark.skipif(os.geteuid() == 0, reason="as root the guard is not what stops it")
def test_install_script_refuses_without_root():
    assert subprocess.run(["bash", str(INSTALL)], capture_output=True).returncode == 1


_RULE_PAIR = re.compile(r'^(?P<key>[A-Z_]+(\{[^}]+\})?)(?P<op>==|!=|\+=|:=|=)"(?P<value>[^"]*)"$')
_MATCH_KEYS = {"ACTION", "SUBSYSTEM", "ENV", "ATTRS", "KERNEL"}


def test_udev_rules_are_well_formed():
    labels, gotos, links = set(), set(), []
    for line in RULES.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        for pair in [p.strip() for p in line.split(", ")]:
            m = _RULE_PAIR.match(pair)
            assert m, f"bad rule fragment {pair!r}"
            key = m["key"].split("{")[0]
            if m["op"] in ("==", "!="):
                assert key in _MATCH_KEYS, pair
            if key == "LABEL":
                labels.add(m["value"])
            elif key == "GOTO":
                gotos.add(m["value"])
            elif key == "SYMLINK":
                assert m["op"] == "+="
                links.append(m["value"])
    assert gotos <= labels
    assert (
        "edge-app/tower" in links
        and sum(link.startswith("edge-app/scanner-") for link in links) == 3
    )


def syscall_groups() -> dict[str, list[str]]:
    """`systemd-analyze syscall-filter`: every @group and its members (names or @groups)."""
    text = subprocess.run(
        ["systemd-analyze", "syscall-filter"], capture_output=True, text=True, check=True
    ).stdout
    groups: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        if line.startswith("@"):
            current = groups.setdefault(line.strip(), [])
        elif current is not None and line.strip() and not line.strip().startswith("#"):
            current.append(line.strip())
    return groups


def expand(names: list[str], groups: dict[str, list[str]]) -> set[str]:
    out: set[str] = set()
    for name in names:
        out |= expand(groups[name], groups) if name.startswith("@") else {name}
    return out


def allowed_syscalls(unit_text: str) -> set[str]:
    """The allow-list SystemCallFilter= lines build (the first allows, `~` lines deny)."""
    groups = syscall_groups()
    allowed: set[str] = set()
    for value in directives(unit_text)["SystemCallFilter"]:
        deny = value.startswith("~")
        names = expand(value.lstrip("~").split(), groups)
        allowed = allowed - names if deny else allowed | names
    return allowed


def test_the_unit_locks_proc_memory_and_syscalls():
    one = {k: v[-1] for k, v in directives(UNIT.read_text()).items()}
    assert one["ProtectProc"] == "invisible"
    # gpiozero reads the Pi's revision from /proc/device-tree or /proc/cpuinfo: keep them
    assert one.get("ProcSubset", "all") == "all"
    assert one["MemoryDenyWriteExecute"] == "yes"
    assert one["SystemCallErrorNumber"] == "EPERM"
    assert directives(UNIT.read_text())["SystemCallFilter"][0] == "@system-service"


def _can_sandbox() -> str | None:
    if shutil.which("systemd-analyze") is None or shutil.which("unshare") is None:
        return "needs systemd-analyze and unshare"
    if os.geteuid() != 0:
        return "a private /proc mount needs root"
    probe = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "true"], capture_output=True
    )
    return None if probe.returncode == 0 else f"unshare refused: {probe.stderr!r}"


def sandboxed(tmp_path: Path, command: list[str]) -> list[str]:
    """``command`` under the unit's /proc mount, memory rule and syscall filter (sandbox.py)."""
    allowed = tmp_path / "syscalls"
    allowed.write_text("\n".join(sorted(allowed_syscalls(UNIT.read_text()))))
    one = {k: v[-1] for k, v in directives(UNIT.read_text()).items()}
    options = f"hidepid={one['ProtectProc']}"
    options += ",subset=pid" if one.get("ProcSubset") == "pid" else ""
    proc_mount = f'mount -t proc -o {options} proc /proc && exec "$@"'
    cmd = ["unshare", "--mount", "--propagation", "private", "sh", "-c", proc_mount, "sh"]
    sandbox = [sys.executable, str(Path(__file__).with_name("sandbox.py")), str(allowed), "--"]
    return cmd + sandbox + command


needs_sandbox = pytest.mark.skipif(_can_sandbox() is not None, reason=str(_can_sandbox()))


@needs_sandbox
def test_the_lane_runs_under_the_units_kernel_restrictions(tmp_path, broker):
    """ProtectProc/ProcSubset, MemoryDenyWriteExecute and the syscall filter (EPERM), each checked
    against the real lane (ONNX Runtime, OpenCV, SQLite, paho, a pty scanner): the demo session
    decides the same and every event reaches the broker."""
    demo = [sys.executable, "-m", "edge_app", "demo", "--state-dir", str(tmp_path / "state")]
    demo += ["--mqtt-url", f"mqtt://127.0.0.1:{broker.port}"]
    cmd = sandboxed(tmp_path, demo)
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 0, (result.returncode, result.stdout[-2000:], result.stderr[-3000:])
    assert "precision 1.00, recall 1.00, false alerts 0" in result.stdout
    assert "received 12 of 12 events" in result.stdout


@needs_sandbox
def test_the_sandbox_really_restricts(tmp_path):
    """So that the lane test above can fail: W+X memory and a privileged call are refused; what
    gpiozero needs to find a Pi's board stays."""
    probe = (
        "import mmap, os\n"
        "try:\n"
        "    mmap.mmap(-1, 4096, prot=mmap.PROT_WRITE | mmap.PROT_EXEC); print('wx')\n"
        "except OSError: print('no-wx')\n"
        "print('cpuinfo' if os.path.exists('/proc/cpuinfo') else 'no-cpuinfo')\n"
        "try:\n"
        "    os.chroot('/'); print('chroot')\n"
        "except PermissionError: print('no-chroot')\n"
    )
    cmd = sandboxed(tmp_path, [sys.executable, "-c", probe])
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60).stdout.split()
    assert out == ["no-wx", "cpuinfo", "no-chroot"]  # (hidepid does not hide from root)


@needs_analyze
def test_systemd_rates_the_units_exposure_low(tmp_path):
    """`systemd-analyze security`: 3.4 before the /proc, memory and syscall rules, 1.8 after."""
    exe = shutil.which("edge-app", path=str(Path(sys.executable).parent)) or sys.executable
    unit = tmp_path / "edge-app.service"
    unit.write_text(UNIT.read_text().replace(INSTALLED_BIN, exe))
    cmd = ["systemd-analyze", "security", "--offline=yes", "--threshold=20", str(unit)]
    env = {**os.environ, "SYSTEMD_LOG_LEVEL": "err"}
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60)
    if "--offline" in result.stderr and "unrecognized" in result.stderr:
        pytest.skip("this systemd-analyze cannot rate a unit offline")
    assert result.returncode == 0, result.stdout[-1500:]
