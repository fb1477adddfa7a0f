#!/usr/bin/env bash
# Install edge_app as a systemd service on a lane box (Raspberry Pi OS / Debian / Jetson L4T).
#
#   sudo systemd/install.sh [--config lane.yaml] [--prefix /opt/edge-app] [--start]
#   systemd/install.sh --dry-run        # print every step, change nothing (no root needed)
#
# What it does, in order (each step is idempotent, so re-running upgrades):
#   1. system user and group edge-app; groups dialout, video, gpio exist
#   2. a virtual environment in $PREFIX/venv with this checkout installed (with the gpio extra)
#   3. /etc/edge-app/lane.yaml from --config, only if none is there yet (never overwritten)
#   4. /etc/edge-app/credentials/mqtt_password placeholder (root only; systemd passes it in)
#   5. udev rules for stable scanner / tower light names, reloaded
#   6. the unit in /etc/systemd/system, enabled; started only with --start
set -euo pipefail

SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PREFIX=/opt/edge-app
CONFIG=""
DRY_RUN=0
START=0
ETC=/etc/edge-app

usage() { sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY_RUN=1 ;;
    --start) START=1 ;;
    --prefix) PREFIX="$2"; shift ;;
    --config) CONFIG="$2"; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown option: $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

run() {
  if [ "$DRY_RUN" = 1 ]; then
    printf '+'; printf ' %q' "$@"; printf '\n'
  else
    "$@"
  fi
}

if [ "$DRY_RUN" = 0 ] && [ "$(id -u)" != 0 ]; then
  echo "install.sh must run as root (or try --dry-run)" >&2
  exit 1
fi
if [ -n "$CONFIG" ] && [ ! -f "$CONFIG" ]; then
  echo "no such config: $CONFIG" >&2
  exit 2
fi

echo "== 1. user and groups"
for group in dialout video gpio; do
  getent group "$group" >/dev/null || run groupadd --system "$group"
done
if ! id edge-app >/dev/null 2>&1; then
  run useradd --system --user-group --home-dir /var/lib/edge-app --no-create-home \
      --shell /usr/sbin/nologin --comment "edge_app lane" edge-app
fi

echo "== 2. virtual environment in $PREFIX/venv"
run install -d -m 0755 "$PREFIX"
[ -x "$PREFIX/venv/bin/python" ] || run python3 -m venv "$PREFIX/venv"
run "$PREFIX/venv/bin/pip" install --upgrade --quiet "$SRC[gpio]"

echo "== 3. configuration in $ETC"
run install -d -m 0750 -o root -g edge-app "$ETC"
if [ -n "$CONFIG" ]; then
  if [ -e "$ETC/lane.yaml" ]; then
    echo "   $ETC/lane.yaml exists: left as it is (compare with $CONFIG yourself)"
  else
    run install -m 0640 -o root -g edge-app "$CONFIG" "$ETC/lane.yaml"
  fi
fi
[ -e "$ETC/lane.yaml" ] || [ -n "$CONFIG" ] || echo "   no lane.yaml yet: copy one from calibration/ to $ETC/lane.yaml"

echo "== 4. credentials"
run install -d -m 0700 -o root -g root "$ETC/credentials"
if [ ! -e "$ETC/credentials/mqtt_password" ]; then
  # Empty is fine for a broker without passwords; LoadCredential= needs the file to exist.
  run install -m 0600 -o root -g root /dev/null "$ETC/credentials/mqtt_password"
fi

echo "== 5. udev rules"
run install -m 0644 "$SRC/hardware/99-edge-app.rules" /etc/udev/rules.d/99-edge-app.rules
run udevadm control --reload-rules
run udevadm trigger --subsystem-match=tty

echo "== 6. systemd unit"
UNIT=/etc/systemd/system/edge-app.service
if [ "$DRY_RUN" = 1 ]; then
  echo "+ sed s#/opt/edge-app#$PREFIX#g $SRC/systemd/edge-app.service > $UNIT"
else
  sed "s#/opt/edge-app#$PREFIX#g" "$SRC/systemd/edge-app.service" > "$UNIT"
  chmod 0644 "$UNIT"
fi
run systemctl daemon-reload
run systemctl enable edge-app.service
if [ "$START" = 1 ]; then
  run systemctl restart edge-app.service
else
  echo "   not started: systemctl start edge-app (logs: journalctl -u edge-app -f)"
fi
