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
