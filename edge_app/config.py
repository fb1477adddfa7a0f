"""Lane configuration: YAML, validated by pydantic, errors that name key and line.

One file per lane under ``calibration/``. ``${VAR}`` / ``${VAR:-default}`` are
taken from the environment and ``${cred:NAME}`` from systemd credentials
(``$CREDENTIALS_DIRECTORY/NAME``), so secrets never sit in the file.
Every duration says its unit (``grace_ms``); zones are normalised polygons.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from edge_app.events import StaffResolution


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CameraConfig(Strict):
    source: str = Field(
        title="Camera source",
        description="USB index ('0'), /dev/videoN, rtsp://…, a GStreamer pipeline ending in "
        "appsink, or a "
        "video file",
    )
    kind: Literal["auto", "usb", "rtsp", "gstreamer", "file"] = Field(
        "auto", description="How to open the source; auto guesses from its form"
    )
    width: int | None = Field(None, gt=0, description="Requested capture width (px)")
    height: int | None = Field(None, gt=0, description="Requested capture height (px)")
    fps: float | None = Field(
        None, gt=0, description="Requested capture rate; files replay at their own"
    )
    stall_timeout_ms: int = Field(
        2000, gt=0, description="No frame for this long means the camera is down"
    )
    reconnect_initial_ms: int = Field(500, gt=0, description="First reconnect delay")
    reconnect_max_ms: int = Field(30000, gt=0, description="Reconnect backoff ceiling")


class ProductModelConfig(Strict):
    path: str = Field(description="ONNX file, relative to the config file or absolute")
    classes: list[str] = Field(
        default_factory=list,
        description="Class names that count as products (empty: every class except 'person')",
    )
    conf: float = Field(0.25, ge=0, le=1, description="Score threshold")
    iou: float = Field(0.7, ge=0, le=1, description="NMS IoU threshold")
    one_box_per_item: bool = Field(
        True,
        description="NMS across product classes: one physical item gives one track, whatever its "
        "labels",
    )
    keep_stacks: bool = Field(
        False,
        description="one_box_per_item never merges two boxes of one class: per-class NMS judged "
        "them two "
        "items (two of a kind stacked in a hand, multi_item). Off: with the shipped lane model it "
        "finds more "
        "stacks but more phantom second boxes on one carton (docs/MODELS.md)",
    )
    nested_ios: float = Field(
        0.85,
        ge=0,
        le=1,
        description="one_box_per_item also drops a box that lies this much inside a much bigger "
        "one "
        "(intersection over the smaller box): a sub-box on one carton, not a second item. 0: off. "
        "The price: a small item held flat on a big one is one item to the camera (docs/MODELS.md)",
    )
    label_half_life_ms: int = Field(
        500,
        ge=0,
        description="an item track's label is its score-weighted vote, each vote fading by half in "
        "this time: what the item looks like now, in the hand, not in the basket. 0: the "
        "lifetime's vote",
    )
    nested_area_ratio: float = Field(
        0.6, gt=0, le=1, description="a nested box is at most this fraction of the container's area"
    )
    hand_box_share: float = Field(
        0.5,
        ge=0,
        le=1,
        description="one_box_per_item also drops a weaker, bigger box around an item box when "
        "at least this share of the rest of it is a hand: the item and the hand holding it, not a "
        "second "
        "item. "
        "Needs the product model's hand class (hands.backend: detector). 0: off",
    )
    sha256: str | None = Field(
        None, description="Expected hash; the model is refused when it differs"
    )


class HandModelConfig(Strict):
    backend: Literal["none", "detector", "mediapipe", "yolo_pose"] = Field(
        "none",
        description="Hand-point backend; 'detector' takes the product model's own hand class (no "
        "extra "
        "model)",
    )
    detector_class: str = Field("hand", description="Class name used by the 'detector' backend")
    palm_path: str | None = None
    landmark_path: str | None = None
    pose_path: str | None = None
    conf: float = Field(0.6, ge=0, le=1)


class ModelsConfig(Strict):
    products: ProductModelConfig
    hands: HandModelConfig = HandModelConfig()
    execution_provider: Literal["cpu", "cuda", "tensorrt", "openvino"] = Field(
        "cpu", description="ONNX Runtime provider; falls back to CPU with a warning"
    )
    threads: int = Field(
        0,
        ge=0,
        description="ONNX Runtime intra-op threads per run (0: one per core, or 1 when frames run "
        "in "
        "parallel)",
    )
    parallel_frames: int = Field(
        0,
        ge=0,
        le=16,
        description="Frames whose detector runs overlap, each on its own core (0: one per core, "
        "at most "
        "4; 1: one at a time)",
    )
    motion_gating: bool = Field(
        True,
        description="Skip the detector (and hands) on frames where nothing moves in the zones; "
        "trackers "
        "get the last detections",
    )
    motion_delta: int = Field(
        12,
        ge=1,
        le=255,
        description="Grey-level change (0..255, on the frame downscaled 4x) that counts a pixel "
        "as moving",
    )
    motion_min_area_pct: float = Field(
        0.1,
        ge=0,
        le=100,
        description="Moving pixels needed, in percent of the zones' area, to run the detector",
    )
    motion_regions: bool = Field(
        True,
        description="Detect only the part of the frame that moved (plus the boxes it touches), "
        "when the "
        "model takes any "
        "input size; everything else keeps its last detections",
    )
    region_refresh_ms: int = Field(
        1000,
        ge=0,
        description="Detect the whole frame at least this often while regions are in use (0: "
        "every frame)",
    )
    motion_hold_ms: int = Field(
        0,
        ge=0,
        description="Keep detecting on every frame this long after the last motion (0: the gate "
        "compares "
        "with the last detected frame, so none is needed)",
    )


Point = tuple[float, float]

#: the privacy band of a lane file without ``evidence.privacy``: the top quarter of the frame
DEFAULT_PRIVACY: tuple[Point, ...] = ((0.0, 0.0), (1.0, 0.0), (1.0, 0.25), (0.0, 0.25))


def _normalised_polygon(pts: list[Point]) -> list[Point]:
    if len(pts) < 3:
        raise ValueError(f"a polygon needs at least 3 points, got {len(pts)}")
    for x, y in pts:
        if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
            raise ValueError(f"point ({x}, {y}) is outside 0..1 (polygons are normalised)")
    return pts


#: a polygon of normalised points, checked on its own (an error names its index and line)
PrivacyPolygon = Annotated[list[Point], AfterValidator(_normalised_polygon)]


class ZonesConfig(Strict):
    pick: list[Point]
    scan: list[Point]
    bag: list[Point]
    go_back: list[Point] | None = None
    ignore: list[Point] | None = None
    enter_frames: int = Field(2, ge=1, description="Frames inside before 'entered' (hysteresis)")
    exit_frames: int = Field(3, ge=1, description="Frames outside before 'exited' (hysteresis)")

    @field_validator("pick", "scan", "bag", "go_back", "ignore")
    @classmethod
    def _polygon(cls, pts: list[Point] | None) -> list[Point] | None:
        if pts is None:
            return pts
        if len(pts) < 3:
            raise ValueError(f"a zone polygon needs at least 3 points, got {len(pts)}")
        for x, y in pts:
            if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
                raise ValueError(f"point ({x}, {y}) is outside 0..1 (zones are normalised)")
        return pts


class ScannerConfig(Strict):
    id: str = Field(
        pattern=r"^[A-Za-z0-9_-]{1,32}$", description="Name used in status/scanner/<id>"
    )
    port: str = Field(description="Serial device, preferably /dev/serial/by-id/…")
    baudrate: int = Field(9600, gt=0)
    terminator: Literal["auto", "cr", "lf", "crlf"] = "auto"
    prefix: str = Field("", description="Characters the scanner puts before each code")
    suffix: str = Field(
        "", description="Characters the scanner puts after each code (before the terminator)"
    )
    max_line_bytes: int = Field(256, gt=8, description="Longer lines are dropped and counted")
    reconnect_initial_ms: int = Field(500, gt=0)
    reconnect_max_ms: int = Field(15000, gt=0)


class ButtonConfig(Strict):
    """The staff key/button that clears a review (GPIO, via gpiozero)."""

    pin: int | str = Field(description="BCM number or gpiozero pin name")
    pull_up: bool = Field(True, description="Button wired to ground (internal pull-up)")
    short_press: StaffResolution = "item_added"
    long_press: StaffResolution = "customer_left"
    long_press_ms: int = Field(2000, gt=0)


class TlsConfig(Strict):
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    insecure: bool = Field(False, description="Skip hostname check (testing only)")


class MqttConfig(Strict):
    url: str = Field(description="mqtt[s]://[user:pass@]host[:port]")
    topic_prefix: str = Field("checkout/v1", description="Topics are <prefix>/<store>/<lane>/…")
    username: str | None = None
    password: str | None = Field(None, repr=False)
    client_id: str | None = None
    keepalive_s: int = Field(30, gt=0)
    protocol: Literal["5", "3.1.1"] = "5"
    tls: TlsConfig | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, url: str) -> str:
        m = re.match(r"^mqtts?://([^@/]+@)?[^:/]+(:(\d+))?/?$", url)
        if not m:
            raise ValueError("expected mqtt[s]://[user:pass@]host[:port]")
        if m.group(3) is not None and not 1 <= int(m.group(3)) <= 65535:
            raise ValueError(f"port {m.group(3)} is not a port (1 to 65535)")
        return url


class OutboxConfig(Strict):
    path: str = Field("outbox.db", description="SQLite file (WAL); relative to the state directory")
    max_events: int = Field(
        200_000, gt=0, description="Oldest events beyond this are dropped and counted"
    )


class EvidenceConfig(Strict):
    dir: str = Field(
        "evidence", description="Where clips are kept; relative to the state directory"
    )
    enabled: bool = True
    fps: float = Field(
        10.0, gt=0, description="Frames per second kept for clips (fewer than the camera: less CPU)"
    )
    pre_s: float = Field(3.0, ge=0)
    post_s: float = Field(2.0, ge=0)
    quota_mb: int = Field(500, gt=0, description="Oldest clips go while the folder is over this")
    retention_days: float = Field(
        30.0, gt=0, description="Clips older than this are deleted, whatever the quota (privacy)"
    )
    blur_faces: bool = Field(
        True,
        description="Blur faces and the privacy polygons in every clip (false: clips stay sharp, "
        "for test rigs only)",
    )
    faces: Literal["blazeface", "haar", "none"] = Field(
        "blazeface",
        description="Face detector run on a clip's frames by the evidence writer (never per frame "
        "on the lane thread): blazeface (MediaPipe, ONNX, shipped in models/), haar (OpenCV's "
        "cascade; OpenCV 4 only) or none. A detector that cannot load blurs the default band "
        "instead and says so on status/evidence",
    )
    face_margin: float = Field(
        0.25,
        ge=0,
        le=2,
        description="A face box is grown by this share of its size on every side before the blur "
        "(hair, ears, chin)",
    )
    privacy: list[PrivacyPolygon] = Field(
        default_factory=lambda: [list(DEFAULT_PRIVACY)],
        description="Normalised polygons always blurred (where a head can appear in the view); "
        "default: the top quarter of the frame. Empty only with a face detector",
    )
    raw_ring_mb: int = Field(
        48,
        ge=0,
        description="Keep the pre_s ring of frames unencoded while it fits in this much memory "
        "(no JPEG "
        "encode "
        "per frame: most frames never make it into a clip); larger frames are kept as JPEG; 0: "
        "always JPEG",
    )

    @field_validator("privacy")
    @classmethod
    def _privacy_needs_faces(cls, polys: list, info: ValidationInfo) -> list:
        if not polys and info.data.get("faces") == "none":
            raise ValueError(
                "an empty list needs a face detector (faces: blazeface or haar): with faces: none "
                "nothing would hide a face"
            )
        return polys


class CheckoutConfig(Strict):
    grace_ms: int = Field(600, ge=0, description="Unmatched this long after landing: pending nudge")
    escalation_ms: int = Field(4000, ge=0, description="Pending this long: staff alert")
    match_before_ms: int = Field(
        1500, ge=0, description="A scan may come this long before the item left the basket"
    )
    match_after_ms: int = Field(
        1500, ge=0, description="A late beep may come this long after the landing"
    )
    idle_timeout_ms: int = Field(
        120_000, gt=0, description="No activity this long closes a transaction"
    )
    flight_max_ms: int = Field(
        6000, gt=0, description="Longest plausible carry from basket to bag (id-swap hand-over)"
    )
    stack_window_ms: int = Field(
        500,
        ge=0,
        description="An unscanned item that left the basket and landed this close to a scanned one "
        "travelled stacked with it: multi_item, not a missed scan",
    )
    same_spot: float = Field(
        0.07,
        ge=0,
        le=1,
        description="A new box this close (fraction of the frame) to an item already in the bag "
        "is that "
        "item found again, not a new landing",
    )
    reacquire_ms: int = Field(
        2000,
        ge=0,
        description="A journey whose track was lost in flight is picked up by a new track "
        "appearing this "
        "soon over the glass or in the bag",
    )
    go_back_dwell_ms: int = Field(
        1000,
        ge=0,
        description="A carry that leaves the go-back area this soon after entering it was carried "
        "over "
        "it, not put there (0: entering it always cancels the carry)",
    )
    scan_without_item: bool = Field(
        True, description="Alert on a beep with nothing over the glass around it"
    )
    scan_without_item_window_ms: int = Field(
        1500, ge=0, description="How far around a beep to look for an item or hand"
    )
    assist_dwell_ms: int = Field(
        8000, ge=0, description="Something on the glass this long without a beep: assist (0: off)"
    )


# ------------------------------------------------------------ review light
#
# Every light driver's schema lives here, not in its driver file: validating
# a lane file (``edge-app validate-config``, systemd ``ExecStartPre``) must not
# import any driver (gpiozero, pyserial …), and the config layer owns every
# schema. A driver is still one file in ``devices/lights/`` (found by its
# ``KEY``); it takes its own class below, and a new one adds its class to
# ``LightConfig``.


class LightConfigBase(Strict):
    """What every review light driver's config shares: the ``type`` that picks the driver."""


class ConsoleLightConfig(LightConfigBase):
    type: Literal["console"] = "console"


class NoLightConfig(LightConfigBase):
    type: Literal["none"] = "none"


Pin = int | str


class GpioLightConfig(LightConfigBase):
    type: Literal["gpio"] = "gpio"
    red: Pin | None = Field(
        None, title="Red lamp pin", description="BCM number or gpiozero pin name; omit if absent"
    )
    yellow: Pin | None = Field(
        None, title="Yellow lamp pin", description="BCM number or gpiozero pin name"
    )
    green: Pin | None = Field(
        None, title="Green lamp pin", description="BCM number or gpiozero pin name"
    )
    buzzer: Pin | None = Field(
        None, title="Buzzer pin", description="Active buzzer; omit for a silent tower"
    )
    active_high: bool = Field(
        True, description="False when a low-side driver/relay board switches on low"
    )
    blink_on_ms: int = Field(500, gt=0, description="Lamp on-time while flashing")
    blink_off_ms: int = Field(500, gt=0, description="Lamp off-time while flashing")
    beep_on_ms: int = Field(200, gt=0, description="Buzzer on-time while beeping")
    beep_off_ms: int = Field(800, gt=0, description="Buzzer off-time while beeping")
    beeps: int | None = Field(
        10, gt=0, description="Beeps per intervention, then silence (None: until cleared)"
    )


class MqttMirrorConfig(LightConfigBase):
    type: Literal["mqtt_mirror"] = "mqtt_mirror"
    topic: str = Field(
        "light/tower",
        title="Topic",
        description="Handed to the app's publish as is (lane-relative there); "
        "not 'light', which the app uses",
    )
    retain: bool = Field(True, description="Retain, so a reconnecting controller gets the state")


class UsbTowerConfig(LightConfigBase):
    type: Literal["usb_tower"] = "usb_tower"
    port: str = Field(
        "/dev/edge-app/tower",
        title="Serial port",
        description="Stable path from hardware/99-edge-app.rules",
    )
    baudrate: int = Field(9600, gt=0)
    buzzer_ms: int = Field(
        3000, ge=0, description="How long the buzzer sounds on an intervention (0: never)"
    )
    refresh_ms: int = Field(
        30000, gt=0, description="Re-send the lamps this often even without a change"
    )
    reconnect_initial_ms: int = Field(500, gt=0)
    reconnect_max_ms: int = Field(15000, gt=0)


#: one member per driver, console (the default) first, then by type: the order of the
#: expected tags in a "does not match any of the expected tags" error
LightConfig = (
    ConsoleLightConfig | GpioLightConfig | MqttMirrorConfig | NoLightConfig | UsbTowerConfig
)
#: each member's ``type``; pydantic puts it into error locations (``light.gpio.red``)
LIGHT_TYPES: frozenset[str] = frozenset(
    c.model_fields["type"].default for c in get_args(LightConfig)
)


class Catalog(Strict):
    """GTIN-14 -> what the camera should see, and whether it is scanned in the cart."""

    items: dict[str, dict[str, Any]] = Field(default_factory=dict)


class LaneConfig(Strict):
    calibration_version: int = Field(1, ge=1, description="Bumped whenever zones are re-calibrated")
    store_id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    lane_id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    camera: CameraConfig
    models: ModelsConfig
    zones: ZonesConfig
    scanners: list[ScannerConfig] = Field(default_factory=list)
    button: ButtonConfig | None = None
    light: Annotated[LightConfig, Field(discriminator="type")] = Field(
        default_factory=ConsoleLightConfig,
        description="Review light driver (discriminated on 'type')",
    )
    mqtt: MqttConfig | None = None
    outbox: OutboxConfig = OutboxConfig()
    evidence: EvidenceConfig = EvidenceConfig()
    checkout: CheckoutConfig = CheckoutConfig()
    catalog: Catalog = Catalog()
    state_dir: str = Field(
        "var",
        description="Writable folder for outbox and evidence; $STATE_DIRECTORY (systemd) wins",
    )
    #: the folder of the lane file, against which relative paths resolve (model_copy keeps it)
    _base_dir: str = PrivateAttr(".")

    @property
    def base_dir(self) -> Path:
        return Path(self._base_dir)

    def with_base_dir(self, base_dir: str | Path) -> LaneConfig:
        new = self.model_copy()
        new._base_dir = str(base_dir)
        return new

    def with_overrides(self, overrides: dict[str, Any]) -> LaneConfig:
        """This config with dotted keys (``models.motion_gating``) set, validated, base folder kept.

        Values may be plain data or models; an unknown key raises ``ValueError`` naming it.
        """
        data = self.model_dump()
        for key, value in overrides.items():
            node, model = data, type(self)
            parts = key.split(".")
            for i, part in enumerate(parts):
                fields = getattr(model, "model_fields", None)
                if not isinstance(node, dict) or fields is None or part not in fields:
                    where = ".".join(parts[:i]) or type(self).__name__
                    raise ValueError(f"{key}: {where} has no field {part!r}")
                if i == len(parts) - 1:
                    node[part] = value.model_dump() if isinstance(value, BaseModel) else value
                else:
                    node = node[part]
                    model = _field_model(model, part, node)
        return type(self).model_validate(data).with_base_dir(self._base_dir)

    @model_validator(mode="after")
    def _unique_scanners(self) -> LaneConfig:
        ids = [s.id for s in self.scanners]
        if len(ids) != len(set(ids)):
            raise ValueError(f"scanner ids must be unique, got {ids}")
        return self

    # Filled by load_config: where the file was, to resolve relative paths.
    def resolve(self, path: str) -> Path:
        p = Path(os.path.expandvars(path))
        if p.is_absolute():
            return p
        return (self.base_dir / p).resolve()

    def state_path(self, path: str) -> Path:
        """Outbox and evidence live under the state directory (systemd StateDirectory)."""
        p = Path(path)
        if p.is_absolute():
            return p
        state = Path(os.environ.get("STATE_DIRECTORY") or self.state_dir)
        return (state / p).resolve()


def _field_model(model: Any, name: str, value: Any) -> Any:
    """The pydantic model a field of ``model`` holds (for a union: the member of ``value``'s type)."""
    ann = model.model_fields[name].annotation
    candidates = [ann, *getattr(ann, "__args__", ())]
    for c in candidates:
        for inner in (c, *getattr(c, "__args__", ())):
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                tag = inner.model_fields.get("type")
                if tag is None or not isinstance(value, dict) or value.get("type") == tag.default:
                    return inner
    return None


class ConfigError(Exception):
    """A lane file that cannot run; ``lines`` holds one human line per problem."""

    def __init__(self, lines: list[str]):
        super().__init__("\n".join(lines))
        self.lines = lines


_ENV = re.compile(r"\$\{(cred:)?([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _substitute(text: str, where: str, errors: list[str]) -> str:
    def repl(m: re.Match) -> str:
        is_cred, name, default = m.group(1), m.group(2), m.group(3)
        if is_cred:
            creds = os.environ.get("CREDENTIALS_DIRECTORY")
            if creds and (Path(creds) / name).is_file():
                return (Path(creds) / name).read_text().strip()
            if default is not None:
                return default
            errors.append(f"{where}: systemd credential {name!r} not found (CREDENTIALS_DIRECTORY)")
            return ""
        if name in os.environ:
            return os.environ[name]
        if default is not None:
            return default
        errors.append(f"{where}: environment variable {name} is not set")
        return ""

    return _ENV.sub(repl, text)


#: a lane file is a few kB: these bounds stop a hostile or broken file ("billion laughs":
#: aliases of aliases) from hanging validate-config and ExecStartPre
MAX_FILE_BYTES = 1 << 20
MAX_NODES = 50_000
MAX_DEPTH = 32


def _too_big(node: yaml.Node, source: str) -> str | None:
    """Why the document is too big once its aliases are expanded (None: it is fine).

    The composed YAML is a graph: an alias is the same node object again, so
    counting with a memo costs one visit per distinct node, whatever the
    expansion would cost.
    """
    sizes: dict[int, int] = {}
    open_: set[int] = set()

    def size(n: yaml.Node, depth: int) -> int:
        if depth > MAX_DEPTH:
            raise ConfigError([f"{source}:{n.start_mark.line + 1}: nested deeper than {MAX_DEPTH}"])
        if id(n) in sizes:
            return sizes[id(n)]
        if id(n) in open_:
            raise ConfigError([f"{source}:{n.start_mark.line + 1}: an alias refers to itself"])
        open_.add(id(n))
        children: list = []
        if isinstance(n, yaml.MappingNode):
            children = [x for kv in n.value for x in kv]
        elif isinstance(n, yaml.SequenceNode):
            children = list(n.value)
        total = 1 + sum(size(c, depth + 1) for c in children)
        open_.discard(id(n))
        sizes[id(n)] = total = min(total, MAX_NODES + 1)
        return total

    if size(node, 0) > MAX_NODES:
        return f"{source}:1: more than {MAX_NODES} values once its aliases are expanded"
    return None


def _line_index(node: yaml.Node, path: tuple = (), out: dict | None = None) -> dict:
    """Map each key path to the 1-based line of its YAML node."""
    out = {} if out is None else out
    out[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            key = k.value
            _line_index(v, path + (key,), out)
            out[path + (key,)] = k.start_mark.line + 1  # the key's line, not its value's
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            _line_index(v, path + (i,), out)
    return out


def _line_for(loc: tuple, lines: dict) -> int:
    loc = _without_union_tags(loc)
    while loc and loc not in lines:
        loc = loc[:-1]
    return lines.get(loc, 1)


def line_finder(text: str) -> Callable[[tuple], int]:
    """``key path -> 1-based line`` in lane YAML that ``parse_config`` accepted (bounded aliases).

    For checks after validation (``validate-config`` opening the models) that
    report ``file:line: key: problem`` as the schema errors do.
    """
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    lines = _line_index(node) if node is not None else {}
    return lambda loc: _line_for(loc, lines)


def _without_union_tags(loc: tuple) -> tuple:
    """Drop pydantic's discriminator tags (light: gpio, …) from an error location."""
    return tuple(p for p in loc if not (isinstance(p, str) and p in LIGHT_TYPES))


def parse_config(text: str, source: str = "<config>", base_dir: Path | None = None) -> LaneConfig:
    """Validate lane YAML; raise ConfigError with 'file:line: key: problem' lines."""
    errors: list[str] = []
    if len(text) > MAX_FILE_BYTES:
        raise ConfigError([f"{source}:1: over {MAX_FILE_BYTES // 1024} KiB: not a lane file"])
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        raise ConfigError(
            [f"{source}:{line}: not valid YAML: {getattr(exc, 'problem', exc)}"]
        ) from None
    if node is None or not isinstance(node, yaml.MappingNode):
        raise ConfigError([f"{source}:1: the lane file must be a mapping of keys"])
    too_big = _too_big(node, source)
    if too_big:
        raise ConfigError([too_big])
    lines = _line_index(node)
    raw = yaml.safe_load(text)

    def walk(obj: Any, path: tuple) -> Any:
        if isinstance(obj, dict):
            return {k: walk(v, path + (k,)) for k, v in obj.items()}
        if isinstance(obj, list):
            return [walk(v, path + (i,)) for i, v in enumerate(obj)]
        if isinstance(obj, str) and "${" in obj:
            where = f"{source}:{_line_for(path, lines)}: {'.'.join(map(str, path))}"
            return _substitute(obj, where, errors)
        return obj

    raw = walk(raw, ())
    if errors:
        raise ConfigError(errors)
    try:
        cfg = LaneConfig.model_validate(raw)
    except ValidationError as exc:
        out = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            key = ".".join(str(p) for p in _without_union_tags(loc)) or "(top)"
            msg = err["msg"]
            if err["type"] == "extra_forbidden":
                msg = "unknown key (typo?)"
            elif err["type"] == "missing":
                msg = "required key is missing"
            msg = msg.removeprefix("Value error, ")
            out.append(f"{source}:{_line_for(loc, lines)}: {key}: {msg}")
        raise ConfigError(out) from None
    return cfg.with_base_dir(base_dir or Path(".").resolve())


def load_config(path: str | Path) -> LaneConfig:
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise ConfigError([f"{p}: cannot read the lane file: {exc.strerror}"]) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError([f"{p}:{line}: not a text file (UTF-8 expected): {exc.reason}"]) from None
    return parse_config(text, source=str(p), base_dir=p.resolve().parent)


def config_hash(cfg: LaneConfig) -> str:
    """Short hash published in lane state, so HQ sees which config a lane runs."""
    dumped = cfg.model_dump_json(exclude={"mqtt": {"password"}})
    return hashlib.sha256(dumped.encode()).hexdigest()[:12]
