"""`edge-app bench`: how fast one lane runs on this box, and against what bound.

Every number comes from the code a live lane runs (``Lane``, ``Perception``,
``replay``), never from a stripped-down copy:

* ``fps_pipeline`` — a scenario replayed as fast as possible through the
  whole lane: decode → perception → engine → outbox (no broker: the
  StoreLink writes the SQLite outbox only) → light/state. Run in child
  processes (``--repeat``), median reported; the same child gives
  ``peak_rss_mb`` (VmHWM) and ``startup_s`` (process start to first
  processed frame).
* ``fps_model_only`` — the same detector (and hand backend) called
  back-to-back on the same frames, decoded beforehand: the bound the
  pipeline can at best reach when the detector runs on every frame.
* ``idle_cpu_pct`` — a live loop (``Lane.run`` with a ``FrameSource`` thread)
  fed a static empty-counter frame with sensor noise at 30 fps real time;
  process CPU time (``resource.getrusage``, all threads) in percent of one core.
* ``fps_ultralytics`` (``--baseline ultralytics``) — Ultralytics'
  ``model.track()`` on the same video and the same ONNX file, in its own
  interpreter (``--baseline-python``): Ultralytics and torch never load here.

Speed is only measured here; tests check behaviour (``tests/tools/test_bench.py``).
Results and what each technique bought: ``docs/BENCHMARKS.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[2]
BASELINE_SCRIPT = REPO / "scripts" / "bench_ultralytics.py"
STAGES = (
    "decode",
    "gate",
    "preprocess",
    "detect",
    "hands",
    "track",
    "perception",
    "evidence",
    "engine",
    "publish",
    "frame",
)
T0_ENV = "EDGE_APP_BENCH_T0"


# --------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------


def pct(values: list[float]) -> dict:
    """p50/p95 of a list of milliseconds (empty: zeros)."""
    if not values:
        return {"p50": 0.0, "p95": 0.0, "n": 0}
    a = np.asarray(values, np.float64)
    return {
        "p50": round(float(np.percentile(a, 50)), 3),
        "p95": round(float(np.percentile(a, 95)), 3),
        "n": len(values),
    }


def peak_rss_mb() -> float:
    """Peak resident set of this process (VmHWM), MiB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def cpu_seconds() -> float:
    """User + system CPU time of this process, all threads."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def thread_cpu() -> dict[str, float]:
    """CPU seconds per thread of this process (/proc/self/task), keyed by Python thread name."""
    names = {t.native_id: t.name for t in threading.enumerate()}
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[str, float] = {}
    with contextlib.suppress(OSError):
        for tid in os.listdir("/proc/self/task"):
            with contextlib.suppress(OSError, ValueError, IndexError):
                fields = Path(f"/proc/self/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
                name = (
                    names.get(int(tid)) or Path(f"/proc/self/task/{tid}/comm").read_text().strip()
                )
                out[name] = out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    return out


def machine() -> dict:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    import cv2
    import onnxruntime as ort

    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "onnxruntime": ort.__version__,
        "opencv": cv2.__version__,
        "numpy": np.__version__,
        "loadavg_1_5_15": [round(x, 2) for x in load],
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
    }


def lane_config(
    config: str | None,
    scenario_dir: Path,
    *,
    state_dir: str,
    gating: str = "config",
    model: str | None = None,
    model_sha256: str | None = None,
    threads: int | None = None,
    parallel: int | None = None,
    light_none: bool = True,
    scanners: bool | None = None,
):
    """The lane config for a bench run: no broker, a private state folder, optional overrides."""
    from edge_app.config import load_config
    from edge_app.devices.lights.none import NoLightConfig
    from edge_app.tools.scenario import Scenario

    if config is None:
        scen = Scenario(scenario_dir)
        config = str((scenario_dir / scen.meta.lane_config).resolve())
    cfg = load_config(config)
    models_update: dict[str, Any] = {}
    if gating != "config" and "motion_gating" in type(cfg.models).model_fields:
        models_update["motion_gating"] = gating == "on"
    if threads is not None:
        models_update["threads"] = threads
    if parallel is not None:
        models_update["parallel_frames"] = parallel
    if model:
        models_update["products"] = cfg.models.products.model_copy(
            update={"path": str(Path(model).resolve()), "sha256": model_sha256}
        )
    update: dict[str, Any] = {"mqtt": None, "state_dir": state_dir}
    if models_update:
        update["models"] = cfg.models.model_copy(update=models_update)
    if light_none:
        update["light"] = NoLightConfig()
    if scanners is False:
        update["scanners"] = []
    return cfg.model_copy(update=update)


def replay_lane(
    cfg,
    scenario_dir: Path,
    *,
    max_frames: int | None = None,
    instrument: bool = False,
    on_first_frame: Callable[[], None] = lambda: None,
) -> dict:
    """Replay a scenario through a ``Lane`` built from ``cfg`` (replay equals live).

    Returns the lane events, the replay result, per-frame stage milliseconds
    (``instrument=True``: the lane's own ``FrameTimings``, the perception's
    per-stage times, decoding timed here) and the wall time of the frame loop.
    """
    from edge_app.lane.camera import file_frames
    from edge_app.lane.timings import FrameTimings
    from edge_app.perception.pipeline import Perception
    from edge_app.tools.replay import run_scenario
    from edge_app.tools.scenario import Scenario

    scenario = Scenario(scenario_dir)
    stages: dict[str, list[float]] = {s: [] for s in STAGES}
    marks: dict[str, float] = {}
    decode_ms = [0.0]
    timed: list[FrameTimings] = []
    p = Perception(cfg)
    if instrument:
        p.stats.call_log = []

    def frames(path: str) -> Iterator:
        it = file_frames(path)
        n = 0
        while max_frames is None or n < max_frames:
            t = time.perf_counter()
            marks.setdefault("start", t)
            frame = next(it, None)
            if frame is None:
                return
            decode_ms[0] += (time.perf_counter() - t) * 1000
            n += 1
            yield frame

    seen = {"n": 0}

    def on_frame(index: int, ts: float) -> None:
        marks["last"] = time.perf_counter()
        if seen["n"] == 0:
            on_first_frame()
        seen["n"] += 1
        if not instrument:
            return
        ft = timed.pop()
        stages["decode"].append(decode_ms[0])
        decode_ms[0] = 0.0
        stages["frame"].append(ft.frame_ms)
        stages["perception"].append(ft.perception_ms)
        stages["publish"].append(ft.publish_ms)
        stages["evidence"].append(ft.evidence_ms)
        stages["engine"].append(ft.engine_ms)
        ran = p.stats.last_stages
        for stage, ms in p.stats.times.last.items():
            if stage in ran:
                stages.setdefault(stage, []).append(ms)

    run = run_scenario(
        cfg,
        scenario,
        close_transaction=True,
        on_frame=on_frame,
        frames=frames,  # decode timed by ``frames``
        perception=p,
        on_frame_timed=timed.append if instrument else None,
    )
    loop_s = marks.get("last", 0.0) - marks.get("start", 0.0)
    return {
        "events": list(run.events),
        "result": run.result,
        "scenario": scenario,
        "stages": stages,
        "loop_s": loop_s,
        "frames": seen["n"],
        "detector_runs": p.stats.detector_runs,
        "detector_calls": p.stats.call_log or [],
        "region_runs": p.stats.region_runs,
        "regions_regrown": p.stats.regrown,
        "detected_area_pct": round(100 * p.stats.detected_area / max(1, p.stats.detector_runs), 1),
    }


# --------------------------------------------------------------------------
# child processes: pipeline replay, idle lane
# --------------------------------------------------------------------------


def _child_config(args, tmp: Path, gating: str = "config"):
    """The lane file a benchmark child runs: the scenario's, with the command line's model knobs."""
    return lane_config(
        args.config,
        Path(args.scenario),
        state_dir=str(tmp / "state"),
        gating=gating,
        model=args.model,
        model_sha256=args.model_sha256,
        threads=args.threads,
        parallel=getattr(args, "parallel_frames", None),
    )


def _apply_ort_spin(args) -> None:
    """``--ort-spin``: try the other ONNX Runtime spinning policy (an experiment knob)."""
    if getattr(args, "ort_spin", "default") != "default":
        import edge_app.perception.pipeline as pipeline

        pipeline.ORT_SESSION_CONFIG = {
            **pipeline.ORT_SESSION_CONFIG,
            "session.intra_op.allow_spinning": "1" if args.ort_spin == "on" else "0",
        }


def _child_pipeline(args) -> dict:
    from edge_app.tools.evaluate import score

    _apply_ort_spin(args)

    tmp = Path(tempfile.mkdtemp(prefix="edge-app-bench-"))
    try:
        cfg = _child_config(args, tmp, gating=args.gating)
        first: dict[str, float] = {}

        def on_first() -> None:
            first["wall"] = time.time()

        out = replay_lane(
            cfg,
            Path(args.scenario),
            max_frames=args.max_frames,
            instrument=True,
            on_first_frame=on_first,
        )
        t0 = float(os.environ.get(T0_ENV, "0") or 0)
        s = score(out["scenario"].truth, out["events"])
        alerts = sorted(
            e.data.get("alert_type", "") for e in out["events"] if e.type == "alert.raised"
        )
        return {
            "frames": out["frames"],
            "detector_runs": out["detector_runs"],
            "region_runs": out["region_runs"],
            # the lane's own detector calls, for model_only to repeat back-to-back
            "detector_calls": [[i, list(r) if r else None] for i, r in out["detector_calls"]],
            "regions_regrown": out["regions_regrown"],
            "detected_area_pct": out["detected_area_pct"],
            "loop_s": round(out["loop_s"], 4),
            "fps": round(out["frames"] / out["loop_s"], 2) if out["loop_s"] > 0 else 0.0,
            "stages_ms": {k: pct(v) for k, v in out["stages"].items() if v},
            "peak_rss_mb": peak_rss_mb(),
            "startup_s": round(first["wall"] - t0, 3) if t0 and "wall" in first else None,
            "alerts": alerts,
            "score": {"tp": s.tp, "fp": s.fp, "fn": s.fn},
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class _StaticCamera:
    """A cv2.VideoCapture stand-in: one still frame with sensor noise, paced at ``fps``."""

    def __init__(self, frames: list, fps: float, jpeg: bool):
        import cv2

        self._cv2 = cv2
        self.frames, self.fps, self.jpeg = frames, fps, jpeg
        self.i = 0
        self.next_t = time.monotonic()

    def isOpened(self) -> bool:  # noqa: N802 - the cv2 API
        return True

    def get(self, prop: int) -> float:
        return self.fps if prop == self._cv2.CAP_PROP_FPS else 0.0

    def set(self, prop: int, value: float) -> bool:
        return True

    def read(self):
        self.next_t += 1.0 / self.fps
        delay = self.next_t - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        src = self.frames[self.i % len(self.frames)]
        self.i += 1
        img = self._cv2.imdecode(src, self._cv2.IMREAD_COLOR) if self.jpeg else src.copy()
        return True, img

    def release(self) -> None:
        pass


def empty_counter_frames(
    width: int = 640, height: int = 480, n: int = 8, noise: float = 2.0, seed: int = 7
) -> list:
    """The synthetic scene's empty counter, ``n`` copies with Gaussian sensor noise (σ in grey levels)."""
    from edge_app.sim.scene import _counter

    base = _counter(width, height, 1).astype(np.float32)
    rng = np.random.default_rng(seed)
    return [
        np.clip(base + rng.normal(0, noise, base.shape), 0, 255).astype(np.uint8) for _ in range(n)
    ]


def _child_idle(args) -> dict:
    import cv2

    from edge_app.config import CameraConfig
    from edge_app.devices.virtual_scanner import VirtualScanner
    from edge_app.lane.app import Lane
    from edge_app.lane.camera import FrameSource

    _apply_ort_spin(args)
    tmp = Path(tempfile.mkdtemp(prefix="edge-app-bench-idle-"))
    scanners: list = []
    try:
        cfg = _child_config(args, tmp, gating=args.gating)
        frames = empty_counter_frames()
        if args.idle_jpeg:
            frames = [cv2.imencode(".jpg", f, [cv2.IMWRITE_JPEG_QUALITY, 90])[1] for f in frames]
        lane = Lane(cfg, use_watchdog=False)
        ports = {}
        for sc in cfg.scanners:
            vs = VirtualScanner()
            scanners.append(vs)
            ports[sc.id] = vs.path
        lane.start(scanner_ports=ports, camera=False)
        cam_cfg = CameraConfig(source="0", kind="usb")  # a live camera: the source paces itself
        lane.camera = FrameSource(
            cam_cfg,
            lane.clock,
            lane.submit_status,
            open_fn=lambda c: _StaticCamera(frames, 30.0, args.idle_jpeg),
        ).start()
        stop = threading.Event()
        th = threading.Thread(target=lane.run, args=(stop,), daemon=True)
        th.start()
        time.sleep(args.idle_warmup_s)  # the gate opens on the first frames, then closes
        f0, runs0, c0, w0 = (
            lane.perception.stats.frames,
            lane.perception.stats.detector_runs,
            cpu_seconds(),
            time.monotonic(),
        )
        th0 = thread_cpu()
        time.sleep(args.idle_s)
        f1, runs1, c1, w1 = (
            lane.perception.stats.frames,
            lane.perception.stats.detector_runs,
            cpu_seconds(),
            time.monotonic(),
        )
        th1 = thread_cpu()
        stop.set()
        th.join(5)
        lane.stop()
        return {
            "idle_cpu_pct": round(100 * (c1 - c0) / (w1 - w0), 2),
            "frames": f1 - f0,
            "fps_in": round((f1 - f0) / (w1 - w0), 2),
            "detector_runs": None if runs0 is None else runs1 - runs0,
            "seconds": round(w1 - w0, 2),
            "jpeg_decode": bool(args.idle_jpeg),
            "per_thread_pct": {
                k: round(100 * (v - th0.get(k, 0.0)) / (w1 - w0), 1)
                for k, v in sorted(th1.items())
                if v - th0.get(k, 0.0) > 0
            },
        }
    finally:
        for vs in scanners:
            vs.close()
        shutil.rmtree(tmp, ignore_errors=True)


def _spawn_child(args, mode: str, extra: Sequence[str] = ()) -> dict:
    cmd = [
        sys.executable,
        "-m",
        "edge_app",
        "bench",
        "--child",
        mode,
        "--scenario",
        str(args.scenario),
        "--gating",
        args.gating,
        *extra,
    ]
    if args.config:
        cmd += ["--config", str(args.config)]
    if args.max_frames:
        cmd += ["--max-frames", str(args.max_frames)]
    if args.model:
        cmd += ["--model", args.model] + (
            ["--model-sha256", args.model_sha256] if args.model_sha256 else []
        )
    if args.threads is not None:
        cmd += ["--threads", str(args.threads)]
    if getattr(args, "parallel_frames", None) is not None:
        cmd += ["--parallel-frames", str(args.parallel_frames)]
    cmd += ["--ort-spin", args.ort_spin]
    env = {**os.environ, T0_ENV: repr(time.time()), "YOLO_OFFLINE": "1"}
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO, timeout=900)
    if r.returncode != 0:
        raise RuntimeError(f"bench child {mode} failed ({r.returncode}): {r.stderr[-2000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------
# in the parent: the model-only bound
# --------------------------------------------------------------------------


def model_only(args, calls: list | None = None) -> dict:
    """The lane's detector (and hand backend) back-to-back on pre-decoded frames.

    ``fps``: on every frame, whole (the bound of a lane that detects every
    frame). With ``calls`` (the pipeline's own detector calls: frame number and
    region) also ``fps_same_work``: exactly those calls back-to-back, per
    frame of the video (the bound of a lane that skips and crops as ours did).
    """
    from edge_app.lane.camera import file_frames
    from edge_app.perception.pipeline import Perception
    from edge_app.perception.yolo import YoloDetector
    from edge_app.tools.scenario import Scenario

    _apply_ort_spin(args)
    tmp = Path(tempfile.mkdtemp(prefix="edge-app-bench-model-"))
    try:
        cfg = _child_config(args, tmp)
        perception = Perception(cfg)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    det, hands = perception.detector, perception.hands
    assert isinstance(det, YoloDetector)  # Perception(cfg) opens the lane's own YOLO model
    scen = Scenario(Path(args.scenario))
    images = []
    for f in file_frames(str(scen.video_path)):
        images.append(f.image)
        if args.max_frames and len(images) >= args.max_frames:
            break
    for img in images[:5]:  # warm
        det.detect(img)

    def models(item) -> None:
        img, rect = item
        if rect is None:
            det.detect(img)
        else:
            x, lb = det.preprocess(img, rect)
            det.decode(det.infer(x), lb)
        if hands is not None:
            hands.detect(img)

    whole = [(img, None) for img in images]

    def back_to_back(workers: int, work: list = whole) -> list[float]:
        """Frames of the video per second while ``work`` (image, rect) runs back-to-back."""
        runs = []
        pool = ThreadPoolExecutor(max_workers=workers) if workers > 1 else None
        try:
            for _ in range(max(1, args.repeat)):
                t = time.perf_counter()
                if pool is not None:  # as the lane runs them: frames in parallel, each on a core
                    list(pool.map(models, work))
                else:
                    for item in work:
                        models(item)
                runs.append(len(images) / (time.perf_counter() - t))
        finally:
            if pool is not None:
                pool.shutdown()
        return runs

    runs = back_to_back(perception.parallel)
    sequential = back_to_back(1) if perception.parallel > 1 else runs
    same_work = None
    if calls and hasattr(det, "preprocess"):
        work = [(images[i], tuple(r) if r else None) for i, r in calls if i < len(images)]
        fps = back_to_back(perception.parallel, work)
        same_work = {
            "fps": round(statistics.median(fps), 2),
            "calls": len(work),
            "region_calls": sum(1 for _, r in work if r),
        }
    perception.close()
    # the session alone on one prepared tensor, for reference
    if hasattr(det, "preprocess"):
        x, _ = det.preprocess(images[0])
    else:
        from edge_app.perception.yolo import to_input_tensor

        x = to_input_tensor(
            images[0], det.letterbox_for((images[0].shape[1], images[0].shape[0])), det.spec.colour
        )
    ts = []
    for _ in range(min(len(images), 100)):
        t = time.perf_counter()
        det.model.run(x)
        ts.append((time.perf_counter() - t) * 1000)
    return {
        "fps": round(statistics.median(runs), 2),
        "fps_runs": [round(r, 2) for r in runs],
        "parallel_frames": perception.parallel,
        "fps_one_at_a_time": round(statistics.median(sequential), 2),
        "same_work": same_work,
        "frames": len(images),
        "session_run_ms": pct(ts),
        "model": det.spec.name,
        "providers": det.providers,
    }


def ultralytics_baseline(args, cfg) -> dict:
    """Ultralytics' own ``model.track()`` in its own interpreter (never imported here)."""
    from edge_app.tools.scenario import Scenario

    py = args.baseline_python or os.environ.get("EDGE_APP_TRAIN_PYTHON") or "/tmp/ulvenv/bin/python"
    if not Path(py).exists() and not shutil.which(py):
        raise RuntimeError(
            f"--baseline ultralytics needs an interpreter with ultralytics; {py} not found "
            "(create one: python3 -m venv /tmp/ulvenv && /tmp/ulvenv/bin/pip install torch "
            "ultralytics)"
        )
    scen = Scenario(Path(args.scenario))
    det_names = _model_names(cfg)
    wanted = set(cfg.models.products.classes)
    classes = [i for i, n in enumerate(det_names) if (n in wanted if wanted else n != "person")]
    cmd = [
        py,
        str(BASELINE_SCRIPT),
        "--model",
        str(cfg.resolve(cfg.models.products.path)),
        "--video",
        str(scen.video_path),
        "--conf",
        str(cfg.models.products.conf),
        "--iou",
        str(cfg.models.products.iou),
        "--classes",
        ",".join(map(str, classes)),
        "--repeat",
        str(max(1, args.repeat)),
    ]
    if args.max_frames:
        cmd += ["--max-frames", str(args.max_frames)]
    env = {**os.environ, "YOLO_OFFLINE": "1", "YOLO_VERBOSE": "False"}
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)
    if r.returncode != 0:
        raise RuntimeError(f"ultralytics baseline failed ({r.returncode}): {r.stderr[-2000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def _model_names(cfg) -> tuple:
    from edge_app.perception.models import find_spec, open_model

    path = cfg.resolve(cfg.models.products.path)
    spec = find_spec(path)
    if spec is not None and spec.names:
        return spec.names
    return open_model(path, warmup=False).spec.names


# --------------------------------------------------------------------------
# the command
# --------------------------------------------------------------------------


def _median_of(runs: list[dict], key: str) -> float | None:
    vals = [r[key] for r in runs if r.get(key) is not None]
    return round(statistics.median(vals), 3) if vals else None


def _stages_median(runs: list[dict]) -> dict:
    out: dict = {}
    names = [s for s in STAGES if any(s in r["stages_ms"] for r in runs)]
    names += sorted({k for r in runs for k in r["stages_ms"]} - set(names))
    for s in names:
        rows = [r["stages_ms"][s] for r in runs if s in r["stages_ms"]]
        out[s] = {
            "p50": round(statistics.median(x["p50"] for x in rows), 2),
            "p95": round(statistics.median(x["p95"] for x in rows), 2),
            "n": rows[0]["n"],
        }
    return out


def _pipeline_runs(args, what: str, log: Callable[[str], None]) -> list[dict]:
    """``args.repeat`` pipeline children, one after another, each logged."""
    runs = []
    for i in range(args.repeat):
        runs.append(_spawn_child(args, "pipeline"))
        log(
            f"bench: {what} {i + 1}/{args.repeat}: {runs[-1]['fps']} fps, startup "
            f"{runs[-1]['startup_s']} s"
        )
    return runs


def run_bench(
    args, log: Callable[[str], None] = lambda s: print(s, file=sys.stderr, flush=True)
) -> dict:
    args.scenario = str(Path(args.scenario).resolve())
    report: dict[str, Any] = {
        "machine": machine(),
        "scenario": args.scenario,
        "config": args.config,
        "repeat": args.repeat,
    }
    log(
        f"bench: load average {report['machine']['loadavg_1_5_15']} on "
        f"{report['machine']['nproc']} cores"
    )
    runs = _pipeline_runs(args, "pipeline run", log)
    report["fps_pipeline"] = _median_of(runs, "fps")
    report["fps_pipeline_runs"] = [r["fps"] for r in runs]
    report["frames"] = runs[0]["frames"]
    report["detector_runs"] = runs[0]["detector_runs"]
    for k in ("region_runs", "regions_regrown", "detected_area_pct"):
        report[k] = runs[0][k]
    report["alerts"] = runs[0]["alerts"]
    report["score"] = runs[0]["score"]
    report["stages_ms"] = _stages_median(runs)
    report["peak_rss_mb"] = max(r["peak_rss_mb"] for r in runs)
    report["startup_s"] = _median_of(runs, "startup_s")
    report["startup_s_runs"] = [r["startup_s"] for r in runs]
    if args.ungated and args.gating != "off":
        import copy

        a2 = copy.copy(args)
        a2.gating = "off"
        uruns = _pipeline_runs(a2, "pipeline run without motion gating", log)
        report["fps_pipeline_ungated"] = _median_of(uruns, "fps")
        report["fps_pipeline_ungated_runs"] = [r["fps"] for r in uruns]
        report["stages_ms_ungated"] = _stages_median(uruns)
        report["alerts_ungated"] = uruns[0]["alerts"]
    mo = model_only(args, runs[0].get("detector_calls"))
    log(f"bench: model only: {mo['fps']} fps")
    report["fps_model_only"] = mo["fps"]
    report["model_only"] = mo
    report["ratio_to_model_bound"] = (
        round(report["fps_pipeline"] / mo["fps"], 3) if mo["fps"] else None
    )
    if mo.get("same_work"):
        # the stricter bound: our own skips and crops, minus everything else the lane does
        report["fps_model_same_work"] = mo["same_work"]["fps"]
        report["ratio_to_same_work"] = round(report["fps_pipeline"] / mo["same_work"]["fps"], 3)
    if "fps_pipeline_ungated" in report:
        report["ratio_to_model_bound_ungated"] = round(
            report["fps_pipeline_ungated"] / mo["fps"], 3
        )
    if args.idle_s > 0:
        idle = _spawn_child(
            args, "idle", ["--idle-s", str(args.idle_s), "--idle-warmup-s", str(args.idle_warmup_s)]
        )
        report["idle_cpu_pct"] = idle["idle_cpu_pct"]
        report["idle"] = idle
        log(f"bench: idle lane: {idle['idle_cpu_pct']} % of one core")
        if args.idle_jpeg_too:
            ij = _spawn_child(
                args,
                "idle",
                [
                    "--idle-s",
                    str(args.idle_s),
                    "--idle-warmup-s",
                    str(args.idle_warmup_s),
                    "--idle-jpeg",
                ],
            )
            report["idle_cpu_pct_mjpeg"] = ij["idle_cpu_pct"]
            log(f"bench: idle lane decoding MJPEG: {ij['idle_cpu_pct']} % of one core")
    if args.baseline == "ultralytics":
        tmp = Path(tempfile.mkdtemp(prefix="edge-app-bench-"))
        try:
            cfg = lane_config(
                args.config,
                Path(args.scenario),
                state_dir=str(tmp),
                model=args.model,
                model_sha256=args.model_sha256,
            )
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        base = ultralytics_baseline(args, cfg)
        report["fps_ultralytics"] = base["fps"]
        report["ultralytics"] = base
        report["speedup_vs_ultralytics"] = (
            round(report["fps_pipeline"] / base["fps"], 3) if base["fps"] else None
        )
        if "fps_pipeline_ungated" in report:
            report["speedup_vs_ultralytics_ungated"] = round(
                report["fps_pipeline_ungated"] / base["fps"], 3
            )
        log(f"bench: ultralytics model.track(): {base['fps']} fps")
    report["machine"]["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    return report


def _bench(args) -> int:
    if args.child:
        with contextlib.redirect_stdout(
            io.StringIO()
        ):  # a chatty driver must not break the JSON line
            out = _child_pipeline(args) if args.child == "pipeline" else _child_idle(args)
        print(json.dumps(out))
        return 0
    report = run_bench(args)
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    return 0


def register(subparsers) -> None:
    from edge_app.tools.demo import DEMO_SCENARIO

    p = subparsers.add_parser(
        "bench",
        help="replay a scenario as fast as possible; print fps, per-stage ms, memory, idle CPU "
        "(JSON)",
        description="Measure the lane on this machine. See docs/BENCHMARKS.md.",
    )
    p.add_argument(
        "--scenario", default=str(DEMO_SCENARIO), help="scenario folder (default: the demo session)"
    )
    p.add_argument("--config", help="lane YAML (default: the scenario's lane_config)")
    p.add_argument(
        "--baseline",
        choices=["ultralytics"],
        help="also time Ultralytics' model.track() on the same video and model",
    )
    p.add_argument(
        "--baseline-python",
        help="interpreter with ultralytics (default: $EDGE_APP_TRAIN_PYTHON or "
        "/tmp/ulvenv/bin/python)",
    )
    p.add_argument("--json", metavar="OUT", help="also write the report here")
    p.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="runs per measurement; medians are reported (default 3)",
    )
    p.add_argument("--max-frames", type=int, help="only the first N frames of the video")
    p.add_argument(
        "--gating",
        choices=["config", "on", "off"],
        default="config",
        help="motion gating (default: as the lane file says)",
    )
    p.add_argument(
        "--no-ungated",
        dest="ungated",
        action="store_false",
        help="skip the runs with motion gating off",
    )
    p.add_argument(
        "--idle-s",
        type=float,
        default=10.0,
        help="seconds of static frames at 30 fps for idle_cpu_pct (0: skip)",
    )
    p.add_argument("--idle-warmup-s", type=float, default=2.0, help=argparse.SUPPRESS)
    p.add_argument(
        "--idle-mjpeg",
        dest="idle_jpeg_too",
        action="store_true",
        help="also measure idle CPU with an MJPEG decode per frame",
    )
    p.add_argument(
        "--model", help="products model to use instead of the lane's (e.g. an fp32 export)"
    )
    p.add_argument(
        "--model-sha256", help="sha256 of --model when it is not in models/manifest.yaml"
    )
    p.add_argument(
        "--threads", type=int, help="ONNX Runtime intra-op threads instead of the lane's"
    )
    p.add_argument(
        "--parallel-frames",
        type=int,
        help="frames detected at once instead of the lane's (1: one at a time)",
    )
    p.add_argument(
        "--ort-spin",
        choices=["default", "on", "off"],
        default="default",
        help="ONNX Runtime intra-op spinning (default: the lane's, off)",
    )
    p.add_argument("--child", choices=["pipeline", "idle"], help=argparse.SUPPRESS)
    p.add_argument("--idle-jpeg", action="store_true", help=argparse.SUPPRESS)
    p.set_defaults(func=_bench)
