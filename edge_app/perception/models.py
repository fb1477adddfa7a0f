"""Model registry and ONNX Runtime sessions: a lane runs only the model it was promised.

``models/manifest.yaml`` names every model the product ships: task, class
names, input size, colour order, output format, sha256, source and licence.
:func:`open_model` checks the file against its entry (hash, input and output
shapes) before a single frame is decoded, and raises :class:`ModelError`
with a message that says what differs, because a silently swapped or
re-exported model would make every missed-scan decision wrong without
anyone noticing.

A model that is not in any manifest (e.g. ``edge-app predict --model
my-export.onnx``) is described from its own ONNX metadata (Ultralytics
writes ``names``, ``imgsz``, ``task``, ``end2end``, ``kpt_shape``).

>>> spec = load_manifest(default_manifest_path())["yolo11n-coco-int8-320"]
>>> spec.task, spec.output_format, spec.input_size, spec.names[39]
('detect', 'raw', (320, 320), 'bottle')
"""

from __future__ import annotations

import ast
import hashlib
import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml

log = logging.getLogger(__name__)

Task = Literal["detect", "pose", "hands", "faces", "embed"]
OutputFormat = Literal[
    "raw",  # Ultralytics detect [1, 4+nc, N], NMS outside the graph
    "end2end",  # Ultralytics NMS-free / nms=True [1, K, 6] x1,y1,x2,y2,score,cls
    "pose_raw",  # Ultralytics pose [1, 4+nc+K*3, N]
    "pose_end2end",  # Ultralytics NMS-free pose [1, K, 6+K*3]
    "yolox",  # Megvii YOLOX raw [1, N, 5+nc], decode_in_inference=False
    "mediapipe_palm",  # BlazePalm regressors [1,896,18] + classificators [1,896,1]
    "mediapipe_landmark",  # hand landmark [1,63] + presence [1,1] + handedness [1,1]
    "mediapipe_face",  # BlazeFace short range regressors [1,896,16] + classificators [1,896,1]
    "embedding",  # [N, D] unit-norm blocks, see perception/recogniser.py
]
OUTPUT_FORMATS: tuple[str, ...] = OutputFormat.__args__  # type: ignore[attr-defined]
TASKS: tuple[str, ...] = Task.__args__  # type: ignore[attr-defined]

PROVIDERS = {
    "cpu": ["CPUExecutionProvider"],
    "cuda": ["CUDAExecutionProvider", "CPUExecutionProvider"],
    "tensorrt": ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
    "openvino": ["OpenVINOExecutionProvider", "CPUExecutionProvider"],
}


class ModelError(Exception):
    """A model file that this lane must not run (wrong hash, shape, format, unreadable)."""


@dataclass(frozen=True)
class ModelSpec:
    """What a model file is and how to feed and decode it (one manifest entry)."""

    name: str
    file: str
    task: Task
    output_format: OutputFormat
    input_size: tuple[int, int]  # (width, height) of the network input
    colour: Literal["rgb", "bgr"] = "rgb"
    names: tuple[str, ...] = ()
    input_shape: tuple[int, ...] = ()
    output_shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    keypoints: int = 0  # keypoints per detection (pose: 17)
    sha256: str | None = None
    bytes: int | None = None
    source: str = ""
    licence: str = ""
    licence_file: str = ""
    notes: str = ""

    @property
    def dynamic(self) -> bool:
        """The graph takes any input height and width (an Ultralytics ``dynamic=True`` export)."""
        return len(self.input_shape) == 4 and any(int(d) < 0 for d in self.input_shape[2:])


def default_manifest_path() -> Path:
    """The manifest shipped in the repository's ``models/`` folder."""
    return Path(__file__).resolve().parents[2] / "models" / "manifest.yaml"


def _names_from(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = ast.literal_eval(value)
    if isinstance(value, dict):
        return tuple(str(value[k]) for k in sorted(value, key=int))
    return tuple(str(v) for v in value)


def _spec_from_entry(name: str, entry: dict, where: str) -> ModelSpec:
    try:
        task = entry["task"]
        fmt = entry["format"]
        size = entry["input_size"]
    except KeyError as exc:
        raise ModelError(f"{where}: model {name!r} lacks the key {exc.args[0]!r}") from None
    if task not in TASKS:
        raise ModelError(f"{where}: model {name!r}: task {task!r} is not one of {TASKS}")
    if fmt not in OUTPUT_FORMATS:
        raise ModelError(f"{where}: model {name!r}: format {fmt!r} is not one of {OUTPUT_FORMATS}")
    if isinstance(size, int):
        size = [size, size]
    return ModelSpec(
        name=name,
        file=entry.get("file", f"{name}.onnx"),
        task=task,
        output_format=fmt,
        input_size=(int(size[0]), int(size[1])),
        colour=entry.get("colour", "rgb"),
        names=_names_from(entry.get("names")),
        input_shape=tuple(entry.get("input_shape", ())),
        output_shapes={k: tuple(v) for k, v in (entry.get("output_shapes") or {}).items()},
        keypoints=int(entry.get("keypoints", 0)),
        sha256=entry.get("sha256"),
        bytes=entry.get("bytes"),
        source=entry.get("source", ""),
        licence=entry.get("licence", ""),
        licence_file=entry.get("licence_file", ""),
        notes=entry.get("notes", ""),
    )


def load_manifest(path: str | Path) -> dict[str, ModelSpec]:
    """Read ``manifest.yaml``: ``{models: {name: entry}}`` → ``{name: ModelSpec}``."""
    p = Path(path)
    try:
        raw = yaml.safe_load(p.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ModelError(f"{p}: cannot read the model manifest: {exc}") from None
    models = raw.get("models") or {}
    return {name: _spec_from_entry(name, entry or {}, str(p)) for name, entry in models.items()}


def sha256_of(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def find_spec(model_path: str | Path, manifest: str | Path | None = None) -> ModelSpec | None:
    """The manifest entry of a model file: the ``manifest.yaml`` beside it, else the shipped one."""
    model_path = Path(model_path)
    candidates = (
        [Path(manifest)]
        if manifest
        else [model_path.parent / "manifest.yaml", default_manifest_path()]
    )
    for mpath in candidates:
        if not mpath.is_file():
            continue
        for spec in load_manifest(mpath).values():
            if spec.file == model_path.name:
                return spec
    return None


def spec_from_onnx(session: Any, path: str | Path) -> ModelSpec:
    """Describe an unlisted Ultralytics export from its ONNX metadata and shapes."""
    meta = session.get_modelmeta().custom_metadata_map
    inp = session.get_inputs()[0]
    outs = session.get_outputs()
    shape = [d if isinstance(d, int) else -1 for d in inp.shape]
    if "imgsz" in meta:
        h, w = ast.literal_eval(meta["imgsz"])
    elif len(shape) == 4 and shape[2] > 0 and shape[3] > 0:
        h, w = shape[2], shape[3]
    else:
        raise ModelError(
            f"{path}: input size unknown (dynamic shape and no 'imgsz' metadata); add it to the "
            "manifest"
        )
    names = _names_from(meta.get("names"))
    task = meta.get("task", "detect")
    end2end = meta.get("end2end", "False") == "True"
    out_shape = outs[0].shape
    kpts = 0
    if "kpt_shape" in meta:
        k, d = ast.literal_eval(meta["kpt_shape"])
        kpts = int(k)
        if d != 3:
            raise ModelError(
                f"{path}: keypoints with {d} values each are not supported (need x, y, conf)"
            )
    if task == "pose":
        fmt = "pose_end2end" if end2end else "pose_raw"
    elif task == "detect":
        last = out_shape[-1] if isinstance(out_shape[-1], int) else -1
        fmt = "end2end" if end2end or last == 6 else "raw"
    else:
        raise ModelError(f"{path}: Ultralytics task {task!r} is not supported (detect or pose)")
    if not names:
        raise ModelError(
            f"{path}: no class names in the ONNX metadata; add the model to models/manifest.yaml"
        )
    return ModelSpec(
        name=Path(path).stem,
        file=Path(path).name,
        task="pose" if task == "pose" else "detect",
        output_format=fmt,  # type: ignore[arg-type]
        input_size=(int(w), int(h)),
        names=names,
        input_shape=tuple(shape),
        output_shapes={
            o.name: tuple(d if isinstance(d, int) else -1 for d in o.shape) for o in outs
        },
        keypoints=kpts,
        source=f"ONNX metadata of {Path(path).name}",
        licence=meta.get("license", ""),
    )


def _shape_problem(what: str, want: tuple, got: list) -> str | None:
    got_t = tuple(d if isinstance(d, int) else -1 for d in got)
    if len(want) != len(got_t) or any(
        w != -1 and g != -1 and w != g for w, g in zip(want, got_t, strict=True)
    ):
        return f"{what} shape is {list(got_t)}, the manifest says {list(want)}"
    return None


def decoder_problems(spec: ModelSpec, first_output: list | tuple) -> list[str]:
    """Why the first output cannot be decoded as ``spec.output_format`` (empty: it can).

    The decoders fail only at the first frame, or decode garbage; a model whose
    head does not fit its format is refused before that.

    >>> spec = ModelSpec("m", "m.onnx", "detect", "raw", (64, 64), names=("a", "b"))
    >>> decoder_problems(spec, [1, 6, "N"]), decoder_problems(spec, [1, 10, 100])
    ([], ['output has 10 channels per box; 2 classes need 6'])
    """
    fmt, nc, k = spec.output_format, len(spec.names), spec.keypoints
    if fmt.startswith("mediapipe") or fmt == "embedding":
        return []  # fixed heads: the manifest's output_shapes say it all
    shape = tuple(d if isinstance(d, int) else -1 for d in first_output)
    if len(shape) != 3:
        return [f"output shape is {list(shape)}; a {fmt} head has 3 dimensions"]
    kpts = f" and {k} keypoints" if k else ""
    if fmt in ("raw", "pose_raw") and nc and shape[1] >= 0 and shape[1] != 4 + nc + 3 * k:
        return [f"output has {shape[1]} channels per box; {nc} classes{kpts} need {4 + nc + 3 * k}"]
    if fmt in ("end2end", "pose_end2end") and 0 <= shape[2] < 6 + 3 * k:
        return [
            f"output has {shape[2]} values per box; {fmt} needs {6 + 3 * k} "
            f"(x1, y1, x2, y2, score, class{kpts})"
        ]
    if fmt == "yolox" and nc and shape[2] >= 0 and shape[2] != 5 + nc:
        return [f"output has {shape[2]} values per box; {nc} YOLOX classes need {5 + nc}"]
    return []


def check_session(spec: ModelSpec, session: Any, path: str | Path) -> None:
    """Raise ModelError when the graph's input/output shapes differ from the spec."""
    problems = []
    inp = session.get_inputs()[0]
    if spec.input_shape:
        p = _shape_problem(f"input {inp.name!r}", spec.input_shape, inp.shape)
        if p:
            problems.append(p)
    outs = {o.name: o for o in session.get_outputs()}
    for name, want in spec.output_shapes.items():
        if name not in outs:
            problems.append(f"output {name!r} is missing (the graph has {sorted(outs)})")
            continue
        p = _shape_problem(f"output {name!r}", want, outs[name].shape)
        if p:
            problems.append(p)
    problems += decoder_problems(spec, session.get_outputs()[0].shape)
    meta_names = _names_from(session.get_modelmeta().custom_metadata_map.get("names"))
    if spec.names and meta_names and meta_names != spec.names:
        padded = zip(meta_names + ("",) * 999, spec.names + ("",) * 999, strict=False)
        diff = next(i for i, (a, b) in enumerate(padded) if a != b)
        theirs = (meta_names + ("<none>",))[min(diff, len(meta_names))]
        ours = (spec.names + ("<none>",))[min(diff, len(spec.names))]
        problems.append(
            f"class names differ from the ONNX metadata (first at index {diff}: {theirs!r} vs "
            f"{ours!r})"
        )
    if problems:
        raise ModelError(
            f"{path}: refused, not the model {spec.name!r} of the manifest: " + "; ".join(problems)
        )


def check_file(spec: ModelSpec, path: str | Path, expected_sha256: str | None = None) -> str:
    """Raise ModelError when the file's sha256 differs from the manifest or the lane config."""
    digest = sha256_of(path)
    for who, want in (("the manifest", spec.sha256), ("the lane config", expected_sha256)):
        if want and want.lower() != digest:
            raise ModelError(
                f"{path}: refused, sha256 is {digest} but {who} expects {want.lower()} "
                f"(model {spec.name!r}); copy the right file or update the hash on purpose"
            )
    return digest


def create_session(
    path: str | Path,
    *,
    provider: str = "cpu",
    threads: int = 0,
    session_config: dict[str, str] | None = None,
) -> Any:
    """An ONNX Runtime session on ``provider``, or on CPU with a warning when it is unavailable.

    ``session_config``: ONNX Runtime session config entries, e.g.
    ``{"session.intra_op.allow_spinning": "0"}`` (docs/BENCHMARKS.md).
    """
    import onnxruntime as ort

    if provider not in PROVIDERS:
        raise ModelError(f"unknown execution provider {provider!r} (one of {sorted(PROVIDERS)})")
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = int(threads)
    opts.log_severity_level = 3  # the MediaPipe conversions warn about unused initializers
    for key, value in (session_config or {}).items():
        opts.add_session_config_entry(str(key), str(value))
    available = set(ort.get_available_providers())
    wanted = [p for p in PROVIDERS[provider] if p in available]
    if PROVIDERS[provider][0] not in available:
        log.warning(
            "execution provider %r (%s) is not available in this onnxruntime (has %s); using CPU",
            provider,
            PROVIDERS[provider][0],
            ", ".join(sorted(available)),
        )
        wanted = ["CPUExecutionProvider"]
    try:
        return ort.InferenceSession(str(path), sess_options=opts, providers=wanted)
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph/NoSuchFile types
        if wanted != ["CPUExecutionProvider"]:
            log.warning("execution provider %r failed (%s); using CPU", provider, exc)
            try:
                return ort.InferenceSession(
                    str(path), sess_options=opts, providers=["CPUExecutionProvider"]
                )
            except Exception as exc2:
                exc = exc2
        raise ModelError(f"{path}: ONNX Runtime cannot load the model: {exc}") from None


@dataclass
class LoadedModel:
    """A verified model: its spec, its session, and the names of its tensors."""

    spec: ModelSpec
    session: Any
    path: Path
    sha256: str
    input_name: str
    output_names: list[str]

    @property
    def providers(self) -> list[str]:
        return list(self.session.get_providers())

    def run(self, tensor: np.ndarray) -> list[np.ndarray]:
        return self.session.run(self.output_names, {self.input_name: tensor})


def open_model(
    path: str | Path,
    *,
    provider: str = "cpu",
    threads: int = 0,
    expected_sha256: str | None = None,
    manifest: str | Path | None = None,
    require_manifest: bool = False,
    warmup: bool = True,
    session_config: dict[str, str] | None = None,
) -> LoadedModel:
    """Load, verify and warm up one model; raise ModelError with a clear reason if it is wrong."""
    p = Path(path)
    if not p.is_file():
        raise ModelError(f"{p}: model file not found")
    spec = find_spec(p, manifest)
    if spec is None and require_manifest:
        raise ModelError(f"{p}: refused, the model is not listed in models/manifest.yaml")
    digest = check_file(spec, p, expected_sha256) if spec else None
    session = create_session(p, provider=provider, threads=threads, session_config=session_config)
    if spec is None:
        spec = spec_from_onnx(session, p)
        digest = check_file(spec, p, expected_sha256)
        log.info("model %s is not in the manifest; described from its ONNX metadata", p.name)
        if problems := decoder_problems(spec, session.get_outputs()[0].shape):
            raise ModelError(
                f"{p}: refused, its ONNX metadata does not fit: " + "; ".join(problems)
            )
    else:
        check_session(spec, session, p)
        if not spec.names and spec.task in ("detect", "pose"):
            meta = session.get_modelmeta().custom_metadata_map
            spec = replace(spec, names=_names_from(meta.get("names")))
            if not spec.names:
                raise ModelError(f"{p}: no class names in the manifest nor in the ONNX metadata")
    model = LoadedModel(
        spec=spec,
        session=session,
        path=p,
        sha256=digest or "",
        input_name=session.get_inputs()[0].name,
        output_names=[o.name for o in session.get_outputs()],
    )
    if warmup:
        # The first run allocates arenas and picks kernels; do it before the watchdog starts.
        shape = [d if isinstance(d, int) and d > 0 else 1 for d in session.get_inputs()[0].shape]
        if len(shape) == 4 and spec.input_size:
            shape[2], shape[3] = spec.input_size[1], spec.input_size[0]
        model.run(np.zeros(shape, np.float32))
    return model


#: the output formats each model slot of a lane file decodes (yolo.py, hands.py)
SLOT_FORMATS: dict[str, tuple[str, ...]] = {
    "detector": ("raw", "end2end", "pose_raw", "pose_end2end", "yolox"),
    "palm": ("mediapipe_palm",),
    "landmark": ("mediapipe_landmark",),
    "pose": ("pose_raw", "pose_end2end"),
}


def check_model(
    path: str | Path,
    slot: str,
    *,
    expected_sha256: str | None = None,
    require_manifest: bool = False,
) -> ModelSpec:
    """Verify a model as the lane would open it, without running it (``validate-config``).

    One CPU session, one thread, no warm-up: fast enough for systemd's
    ``ExecStartPre``. Raises ModelError when the file is no loadable ONNX model,
    differs from its manifest entry or the lane's sha256, or has a head that
    ``slot`` (a key of ``SLOT_FORMATS``) cannot decode.
    """
    spec = open_model(
        path,
        threads=1,
        expected_sha256=expected_sha256,
        require_manifest=require_manifest,
        warmup=False,
    ).spec
    if spec.output_format not in SLOT_FORMATS[slot]:
        raise ModelError(
            f"{path}: model {spec.name!r} has a {spec.output_format} head; this key takes "
            f"{' or '.join(SLOT_FORMATS[slot])}"
        )
    if slot == "pose" and spec.keypoints < 11:
        raise ModelError(f"{path}: a pose model with COCO keypoints is needed for wrists")
    return spec
