#!/bin/sh
# Add one lane (edge_app user + kiosk user) to the store broker.
# usage: add-lane.sh STORE LANE_NUMBER   e.g. add-lane.sh 042 03
# Prints the two generated passwords once; put the lane's into its systemd
# credential (mqtt_password) and the kiosk's into the kiosk config.
set -eu
store="$1"; n="$2"
passwd=/etc/mosquitto/passwd; acl=/etc/mosquitto/acl.conf
prefix="checkout/v1/store-$store/lane-$n"
lane_user="store-$store-lane-$n"; kiosk_user="kiosk-$store-$n"
lane_pw=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
kiosk_pw=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
[ -f "$passwd" ] || { touch "$passwd"; chmod 0640 "$passwd"; }
mosquitto_passwd -b "$passwd" "$lane_user" "$lane_pw"
mosquitto_passwd -b "$passwd" "$kiosk_user" "$kiosk_pw"
cat >> "$acl" <<ACL

# --- lane $n ----------------------------------------------------------------
user $lane_user
topic write $prefix/availability
topic write $prefix/state
topic write $prefix/status/#
topic write $prefix/events
topic write $prefix/stats
topic write $prefix/light/#
topic write $prefix/response/#
topic read $prefix/request/#

user $kiosk_user
topic write $prefix/request/transaction/#
topic write $prefix/request/payment/#
topic write $prefix/request/item/#
topic read $prefix/response/#
topic read $prefix/state
topic read $prefix/availability
topic read $prefix/light/#
ACL
echo "$lane_user $lane_pw"
echo "$kiosk_user $kiosk_pw"
echo "now: systemctl reload mosquitto   (re-reads passwd and acl)" >&2
