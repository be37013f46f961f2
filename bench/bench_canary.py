"""``make bench`` section ``canary``: the project's guarded update measured on a local cloud, with a client invoking
the endpoint at a fixed rate throughout.

Two updates run through the workflow's own deploy branch (notebook 03's states from ``Create Endpoint Config`` to
``Model Deployed`` / ``Endpoint Deploy Failed``, cut out of the definition as ``tests/reliability/rel_helpers.py``
cuts fragments), with the project's parameters (``deployment: canary``) and its auto-rollback alarms
(:func:`retrain.alarms.ensure_alarms`):

1. a good candidate: every request must be answered, first by the old model, then by the canary's share of the new
   one, then by the new one alone;
2. a broken candidate, a model whose server errors: the canary's requests fail until the 5xx alarm goes into ALARM
   and SageMaker puts all traffic back on the old fleet; the old model answers every other request throughout.

Every answer is labelled by the model that gave it (each model's score for the probe row is known beforehand), so
the share of traffic each fleet served over time is computed from the answers, not read from the cloud. The local
cloud runs with ``LOCALCLOUD_MONITORING_TIME_SCALE`` so that baking periods and alarm periods pass quickly;
``measure`` reports every duration both as measured and in the parameters' own (unscaled) seconds.
"""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
LOCAL_PARAMS = ROOT / "params" / "local.yaml"
#: the probe row: six features, as the two models below are trained on
ROW = "0.5,-1.0,0.25,1.5,-0.5,0.0"
#: localcloud's endpoint metrics are summed per second (docs/deployment-guardrails.md, "Where localcloud differs")
METRIC_RESOLUTION_S = 1.0
VARIANT = "AllTraffic"  # the SDK's EndpointConfigStep default, as the workflow names it (retrain.deployment)
XGB_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
#: the deploy branch of the workflow starts here (notebook 03)
DEPLOY_START = "Create Endpoint Config"


@dataclass(frozen=True)
class Plan:
    """How the measurement runs. The parameter overrides are the project's own (params/local.yaml names them);
    with ``time_scale`` 0.1 the 60-second canary bakes 6 s and the 10-second alarm period lasts 1 s, as long as
    one datapoint of localcloud's endpoint metrics."""

    rate: float = 50.0  # requests/s of the background client
    time_scale: float = 0.1
    bin_s: float = 0.25  # width of a time bin of the share-over-time series
    tail_s: float = 1.0  # the client keeps invoking this long after each update ends
    overrides: tuple[str, ...] = ("deployment=canary", "canary_percent=20", "wait_interval_seconds=60",
                                  "termination_wait_seconds=10", "alarm_period_seconds=10",
                                  "alarm_evaluation_periods=1", "alarm_datapoints_to_alarm=1")


# ------------------------------------------------------------------------------------------------ the fragment


def deploy_fragment(definition: dict[str, Any]) -> dict[str, Any]:
    """The states reachable from ``Create Endpoint Config`` (Next, Choices, Default, Catch), as the project built
    them, as a state machine of their own."""
    states, todo = {}, [DEPLOY_START]
    while todo:
        name = todo.pop()
        if name in states:
            continue
        state = definition["States"][name]
        states[name] = state
        todo += [n for n in (state.get("Next"), state.get("Default")) if n]
        todo += [rule["Next"] for rule in state.get("Choices", [])] + [c["Next"] for c in state.get("Catch", [])]
    return {"StartAt": DEPLOY_START, "States": states, "TimeoutSeconds": 600}


def run_input(names: dict[str, str]) -> dict[str, Any]:
    """The state data the deploy branch starts from: the run's names where the workflow's first states leave them
    (``Run``) and at the top, as the execution input of a run that gave them (both forms of the definition)."""
    return {**names, "Run": dict(names)}


# ------------------------------------------------------------------------------------------------ the models


_TRAIN = """
import json, sys, numpy as np, xgboost as xgb
folder, row = sys.argv[1], np.array([[float(v) for v in sys.argv[2].split(",")]])
rng = np.random.default_rng(3)
X = rng.normal(size=(300, 6)).round(3)
scores = {}
for name, (i, j) in (("first", (0, 3)), ("second", (3, 0)), ("broken", (1, 2))):
    y = (X[:, i] - X[:, j] > 0).astype(float)
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 3, "eta": 0.3}, xgb.DMatrix(X, label=y), 10)
    booster.save_model(f"{folder}/{name}")  # no extension: the legacy binary format, as the container saves
    scores[name] = float(booster.predict(xgb.DMatrix(row))[0])
print(json.dumps(scores))
"""


def train_models() -> tuple[dict[str, bytes], dict[str, float]]:
    """Three models that score :data:`ROW` differently, trained and scored by the served xgboost 1.7.4 (localcloud's
    XGBoost 1.7-1 image environment): ``({name: xgboost-model bytes}, {name: score})``."""
    from localcloud import images

    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run([images.python(images.XGBOOST), "-c", _TRAIN, tmp, ROW], capture_output=True,
                              text=True, timeout=300, check=True)
        scores = json.loads(done.stdout.strip().splitlines()[-1])
        return {name: (Path(tmp) / name).read_bytes() for name in scores}, scores


def _tarball(raw: bytes) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("xgboost-model")
        info.size = len(raw)
        tar.addfile(info, io.BytesIO(raw))
    return buffer.getvalue()


# ------------------------------------------------------------------------------------------------ the client


class Invoker:
    """Invokes the endpoint with :data:`ROW` at a fixed rate on a thread; each answer is kept as ``(time sent,
    label)``: the fleet whose model's score it is (``scores``: ``old``, the model serving before the update, and
    ``new``, the candidate), ``other`` for any other score, ``failed`` for an error of any kind."""

    def __init__(self, rt: Any, endpoint: str, scores: dict[str, float], rate: float) -> None:
        self.rt, self.endpoint, self.scores, self.period = rt, endpoint, scores, 1.0 / rate
        self.answers: list[tuple[float, str]] = []
        self.errors: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _label(self, score: float) -> str:
        return next((name for name, s in self.scores.items() if abs(score - s) <= 1e-5 * max(1.0, abs(s))), "other")

    def _run(self) -> None:
        due = time.monotonic()
        while not self.stop.is_set():
            sent = time.monotonic()
            try:
                body = self.rt.invoke_endpoint(EndpointName=self.endpoint, Body=ROW, ContentType="text/csv")
                self.answers.append((sent, self._label(float(body["Body"].read()))))
            except Exception as exc:  # noqa: BLE001 - every kind of failure counts as a failed request
                self.answers.append((sent, "failed"))
                self.errors.append(f"{type(exc).__name__}: {exc}"[:300])
            due += self.period
            self.stop.wait(max(0.0, due - time.monotonic()))

    def __enter__(self) -> Invoker:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(30)


def shares(answers: list[tuple[float, str]], start: float, end: float, bin_s: float) -> list[dict[str, Any]]:
    """Per time bin of ``bin_s`` seconds from ``start`` to ``end``: the requests sent in it and the share each
    label got (``t`` is the bin's start, seconds after ``start``)."""
    bins: list[dict[str, Any]] = []
    edge = start
    while edge < end:
        labels = [label for t, label in answers if edge <= t < edge + bin_s]
        bins.append({"t": round(edge - start, 3), "requests": len(labels),
                     **{k: round(labels.count(k) / len(labels), 3) if labels else None
                        for k in ("old", "new", "failed", "other")}})
        edge += bin_s
    return bins


# ------------------------------------------------------------------------------------------------ the cloud


class Cloud:
    """Clients of a running local cloud, and what the measurement made in it."""

    def __init__(self, url: str) -> None:
        import boto3

        session = boto3.Session(region_name="us-east-1", aws_access_key_id="bench", aws_secret_access_key="bench")
        self.client = lambda service: session.client(service, endpoint_url=url)
        self.sm, self.rt, self.sfn = self.client("sagemaker"), self.client("sagemaker-runtime"), self.client(
            "stepfunctions")

    def role(self, service: str) -> str:
        trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {
            "Service": f"{service}.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
        return str(self.client("iam").create_role(RoleName=f"canary-{service}-{uuid.uuid4().hex[:6]}",
                                                  AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"])

    def watch(self, endpoint: str, until: threading.Event) -> list[tuple[float, str, str]]:
        """``(time, EndpointStatus, stage)`` each time DescribeEndpoint's answer changes, until ``until`` is set;
        the stage is the new fleet's latest ``VariantStatus`` while a deployment is pending."""
        seen: list[tuple[float, str, str]] = []
        while not until.is_set():
            d = self.sm.describe_endpoint(EndpointName=endpoint)
            variants = (d.get("PendingDeploymentSummary") or {}).get("ProductionVariants") or [{}]
            stage = ((variants[0].get("VariantStatus") or [{}])[-1]).get("StatusMessage", "")
            now = (time.monotonic(), d["EndpointStatus"], stage or d["EndpointConfigName"])
            if not seen or seen[-1][1:] != now[1:]:
                seen.append(now)
            until.wait(0.05)
        return seen


def start_cloud(port: int, home: Path, time_scale: float) -> str:
    """A local cloud on ``port`` (memory only) whose monitoring clock runs at ``time_scale``; its URL."""
    from bench_tools import start_scaled_cloud

    return start_scaled_cloud(port, home, "LOCALCLOUD_MONITORING_TIME_SCALE", time_scale)


# ------------------------------------------------------------------------------------------------ the measurement


class Measurement:
    """The project's deploy branch and its models in one local cloud (see the module's docstring)."""

    def __init__(self, url: str, plan: Plan, definition: dict[str, Any] | None = None) -> None:
        from retrain.alarms import ensure_alarms
        from retrain.config import load_params, parse_overrides
        from retrain.notebooks import workflow_definition
        from retrain.resources import Layout

        self.plan, self.cloud = plan, Cloud(url)
        project = f"canary-{uuid.uuid4().hex[:6]}"
        overrides = parse_overrides([*plan.overrides, f"project_name={project}"])
        self.params = load_params(LOCAL_PARAMS, overrides)
        account = self.cloud.client("sts").get_caller_identity()["Account"]
        self.timings: dict[str, float] = {}
        built: dict[str, Any] = {"definition": definition}
        # notebook 03 builds the definition in a kernel of its own (seconds): meanwhile the models train
        builder = threading.Thread(target=lambda: built.update(definition=workflow_definition(
            LOCAL_PARAMS, overrides, account=account)), daemon=True)
        began = time.monotonic()
        if definition is None:
            builder.start()
        self.layout = Layout(f"{project}-{account}-us-east-1", project)
        self.cloud.client("s3").create_bucket(Bucket=self.layout.bucket)
        self.alarms = ensure_alarms(self.cloud.client("cloudwatch"), self.params)
        self.model_role = self.cloud.role("sagemaker")
        models, self.scores = train_models()
        self.artifacts = {name: self._put(name, raw) for name, raw in models.items()}
        self.timings["train_models_s"] = round(time.monotonic() - began, 3)
        self.first_endpoint("first")
        self.timings["first_endpoint_s"] = round(time.monotonic() - began, 3)
        if definition is None:
            builder.join(300)
        if built["definition"] is None:
            raise RuntimeError("notebook 03 did not build the workflow (see the log above)")
        self.timings["definition_s"] = round(time.monotonic() - began, 3)
        self.machine = self.cloud.sfn.create_state_machine(
            name=f"{project}-deploy", definition=json.dumps(deploy_fragment(built["definition"])),
            roleArn=self.cloud.role("states"))["stateMachineArn"]

    def _put(self, name: str, raw: bytes) -> str:
        key = f"{self.params.project_name}/models/{name}/model.tar.gz"
        self.cloud.client("s3").put_object(Bucket=self.layout.bucket, Key=key, Body=_tarball(raw))
        return f"s3://{self.layout.bucket}/{key}"

    def first_endpoint(self, model: str) -> None:
        """The endpoint serving ``model`` before any update (as the workflow's ``Create Endpoint`` makes it on a
        first run; made directly here so that it starts while notebook 03 builds the definition)."""
        from retrain.workflow import execution_names

        names = execution_names(self.params, "first", self.layout)
        tags = [{"Key": k, "Value": v} for k, v in self.params.tags.items()]
        self.cloud.sm.create_model(ModelName=names["ModelName"], ExecutionRoleArn=self.model_role, Tags=tags,
                                   PrimaryContainer={"Image": XGB_IMAGE, "ModelDataUrl": self.artifacts[model]})
        self.cloud.sm.create_endpoint_config(EndpointConfigName=names["EndpointConfigName"], Tags=tags,
                                             ProductionVariants=[{"VariantName": VARIANT,
                                                                  "ModelName": names["ModelName"],
                                                                  "InstanceType": "ml.m5.large",
                                                                  "InitialInstanceCount": 1}])
        self.cloud.sm.create_endpoint(EndpointName=self.params.endpoint_name,
                                      EndpointConfigName=names["EndpointConfigName"], Tags=tags)
        self.cloud.sm.get_waiter("endpoint_in_service").wait(EndpointName=self.params.endpoint_name,
                                                             WaiterConfig={"Delay": 0.2, "MaxAttempts": 600})

    def deploy(self, artifact: str, environment: dict[str, str] | None = None) -> dict[str, Any]:
        """A model for ``artifact`` and an execution of the deploy branch for it, to its end."""
        from retrain.workflow import execution_names

        names = execution_names(self.params, f"r{uuid.uuid4().hex[:8]}", self.layout)
        self.cloud.sm.create_model(ModelName=names["ModelName"], ExecutionRoleArn=self.model_role, PrimaryContainer={
            "Image": XGB_IMAGE, "ModelDataUrl": artifact, **({"Environment": environment} if environment else {})})
        started = self.cloud.sfn.start_execution(stateMachineArn=self.machine, input=json.dumps(run_input(names)))
        while (d := self.cloud.sfn.describe_execution(executionArn=started["executionArn"]))["status"] == "RUNNING":
            time.sleep(0.1)
        return {"status": d["status"], "error": d.get("error"), "cause": d.get("cause"), "config":
                names["EndpointConfigName"]}

    def update(self, serving: str, candidate: str, environment: dict[str, str] | None = None) -> dict[str, Any]:
        """Run the deploy branch for model ``candidate`` (``environment``: its container's) while the endpoint
        serves model ``serving`` and :class:`Invoker` invokes at the plan's rate."""
        endpoint, done = self.params.endpoint_name, threading.Event()
        scores = {"old": self.scores[serving], "new": self.scores[candidate]}
        stages: list[tuple[float, str, str]] = []
        watcher = threading.Thread(target=lambda: stages.extend(self.cloud.watch(endpoint, done)), daemon=True)
        with Invoker(self.cloud.rt, endpoint, scores, self.plan.rate) as client:
            time.sleep(self.plan.tail_s / 2)
            began = time.monotonic()
            watcher.start()
            execution = self.deploy(self.artifacts[candidate], environment)
            ended = time.monotonic()
            time.sleep(self.plan.tail_s)
            done.set()
            watcher.join(10)
        start = client.answers[0][0] if client.answers else began
        return {"execution": execution, "answers": client.answers, "errors": client.errors, "began": began,
                "ended": ended, "stages": stages,
                "shares": shares(client.answers, start, client.answers[-1][0] + 1e-6 if client.answers else ended,
                                 self.plan.bin_s), "start": start}


def _window(stages: list[tuple[float, str, str]], words: str) -> tuple[float, float] | None:
    """The time from the first stage whose text holds ``words`` to the next stage change."""
    for index, (t, _, stage) in enumerate(stages):
        if words in stage:
            return t, stages[index + 1][0] if index + 1 < len(stages) else float("inf")
    return None


def _counts(answers: list[tuple[float, str]]) -> dict[str, int]:
    labels = [label for _, label in answers]
    return {k: labels.count(k) for k in ("old", "new", "failed", "other")}


def canary_figures(result: dict[str, Any], plan: Plan) -> dict[str, Any]:
    """The good update: requests, failures, the new fleet's share while the canary baked, the update's time."""
    answers = result["answers"]
    seconds = answers[-1][0] - answers[0][0] if len(answers) > 1 else 0.0
    window = _window(result["stages"], "(WaitIntervalInSeconds)")
    during = [label for t, label in answers if window and window[0] <= t < window[1]]
    first_new = next((t for t, label in answers if label == "new"), None)
    last_old = max((t for t, label in answers if label == "old"), default=None)
    return {"status": result["execution"]["status"], "requests": len(answers), **_counts(answers),
            "rate_rps": round(len(answers) / seconds, 1) if seconds else None,
            "canary_requests": len(during),
            "canary_share_new": round(during.count("new") / len(during), 3) if during else None,
            "update_s": round(result["ended"] - result["began"], 3),
            "old_to_new_s": round(last_old - first_new, 3) if first_new and last_old else None,
            "after_update": sorted({label for t, label in answers if t > result["ended"]}),
            "stages": [(round(t - result["start"], 3), status, stage) for t, status, stage in result["stages"]]}


def rollback_figures(result: dict[str, Any], plan: Plan, period_s: int) -> dict[str, Any]:
    """The broken update: the failed requests (the canary's), when the endpoint was back on the old fleet alone,
    and how long after the first failure, against the alarm's period."""
    answers = result["answers"]
    failures = [t for t, label in answers if label == "failed"]
    updating = next((t for t, status, _ in result["stages"] if status == "Updating"), None)
    back = next((t for t, status, _ in result["stages"] if updating and t > updating and status == "InService"), None)
    # localcloud's CloudWatch evaluator and the deployment's alarm check each wake every
    # max(0.05, min(1, 10 x scale)) s (services/cloudwatch/backend.py, services/sagemaker/rollout.py), and an
    # endpoint metric's datapoints are whole seconds (docs/deployment-guardrails.md), whatever the scale
    tick = max(0.05, min(1.0, 10 * plan.time_scale))
    period = period_s * plan.time_scale
    bound = period + METRIC_RESOLUTION_S + 2 * tick
    rollback = round(back - failures[0], 3) if back and failures else None
    return {"status": result["execution"]["status"], "error": result["execution"]["error"],
            "cause": result["execution"]["cause"], "requests": len(answers), **_counts(answers),
            "failed_after_rollback": sum(1 for t in failures if back and t > back + tick),
            "answered_after_rollback": sorted({label for t, label in answers if back and t > back + tick}),
            "rollback_s": rollback, "alarm_period_s": round(period, 3), "evaluation_tick_s": tick,
            "rollback_bound_s": round(bound, 3),
            "rollback_in_periods": round(rollback / period, 2) if rollback else None,
            "rollback_unscaled_s": round(rollback / plan.time_scale, 1) if rollback else None,
            "within_period_and_ticks": bool(rollback is not None and rollback <= bound),
            "stages": [(round(t - result["start"], 3), status, stage) for t, status, stage in result["stages"]]}


def _stage_name(status: str, stage: str) -> str:
    """A stage of DescribeEndpoint in two or three words, for the plot."""
    if status != "Updating":
        return status
    for words, name in (("Launching", "new fleet starts"), ("(WaitIntervalInSeconds)", "canary bakes"),
                        ("(TerminationWaitInSeconds)", "all on new: final bake")):
        if words in stage:
            return name
    return stage[:24]


def plot(results: dict[str, dict[str, Any]], path: Path) -> Path:
    """The share of requests each fleet answered over time (and the share that failed), one panel per update,
    with the deployment's stages marked; drawn with the report's helpers (``retrain.reports``)."""
    from retrain.reports import _pyplot, save_figure

    plt = _pyplot()
    fig, axes = plt.subplots(1, len(results), figsize=(6 * len(results), 3.6), squeeze=False)
    colours = {"old": "#4c72b0", "new": "#55a868", "failed": "#c44e52"}
    for ax, (title, result) in zip(axes[0], results.items(), strict=True):
        bins = [b for b in result["shares"] if b["requests"]]
        t = [b["t"] for b in bins]
        ax.stackplot(t, *[[b[k] or 0.0 for b in bins] for k in colours], labels=list(colours),
                     colors=list(colours.values()), step="post")
        for when, status, stage in result["stages"]:
            ax.axvline(when - result["start"], color="black", lw=0.6, ls=":")
            ax.text(when - result["start"] + 0.05, 0.03, _stage_name(status, stage), rotation=90, fontsize=7,
                    va="bottom", color="white")
        ax.set(title=title, xlabel="seconds since the client started", ylabel="share of requests", ylim=(0, 1))
        ax.legend(loc="lower right", fontsize=7)
    fig.tight_layout()
    return save_figure(fig, path)


def measure(url: str, out: Path, plan: Plan = Plan(), definition: dict[str, Any] | None = None) -> dict[str, Any]:
    """The whole measurement on the local cloud at ``url`` (its monitoring clock at ``plan.time_scale``): the
    first model serving, a good canary, a broken canary; figures, series and the plot (``out``)."""
    began = time.monotonic()
    m = Measurement(url, plan, definition)
    good = m.update("first", "second")
    # a candidate whose server errors: the XGBoost container's invocations() hands an accept type its encoders
    # cannot write (sagemaker-containers' encoders write json, csv and npy) to encoders.encode outside any try, a
    # bare 500 (sagemaker-xgboost-container, algorithm_mode/serve.py)
    broken = m.update("second", "broken", {"SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "application/jsonlines"})
    figures = {"canary": canary_figures(good, plan), "rollback": rollback_figures(
        broken, plan, m.params.alarm_period_seconds)}
    out.mkdir(parents=True, exist_ok=True)
    picture = plot({f"canary of {m.params.canary_percent}%: a good model": good,
                    "canary: a model whose server errors": broken}, out / "canary-shares.png")
    series = {"canary": good["shares"], "rollback": broken["shares"]}
    (out / "canary-series.json").write_text(json.dumps(series, indent=1) + "\n")
    return {**figures, "plan": {"rate_rps": plan.rate, "time_scale": plan.time_scale, "bin_s": plan.bin_s,
                                "overrides": list(plan.overrides)},
            "deployment": m.params.deployment, "plot": str(picture), "series": str(out / "canary-series.json"),
            "endpoint": m.params.endpoint_name, "alarms": sorted(m.alarms),
            "timings": {**m.timings, "measure_s": round(time.monotonic() - began, 3)}}


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bench_run(out: Path, plan: Plan = Plan()) -> dict[str, Any]:
    """One run of ``make bench``'s ``canary`` section: a fresh local cloud at the plan's time scale, the
    measurement, the cloud stopped; the figures flat (``bench_stats.FIGURES`` names them), the details beside."""
    import localcloud

    port, home = free_port(), out / "localcloud"
    url = start_cloud(port, home, plan.time_scale)
    try:
        got = measure(url, out, plan)
    finally:
        localcloud.stop(port, home=home)
    canary, rollback = got["canary"], got["rollback"]
    return {"requests": canary["requests"] + rollback["requests"], "rate_rps": canary["rate_rps"],
            "failed_good_update": canary["failed"] + canary["other"], "canary_share_new": canary["canary_share_new"],
            "update_s": canary["update_s"], "rollback_s": rollback["rollback_s"],
            "rollback_in_periods": rollback["rollback_in_periods"],
            "failed_broken_update": rollback["failed"], "failed_after_rollback": rollback["failed_after_rollback"],
            "broken_model_answers": rollback["new"] + rollback["other"],
            "good_update": canary["status"], "broken_update": rollback["status"], "rollback_cause": rollback["cause"],
            "within_period_and_ticks": rollback["within_period_and_ticks"], "plot": got["plot"],
            "series": got["series"], "plan": got["plan"], "timings": got["timings"],
            "stages": {"canary": canary["stages"], "rollback": rollback["stages"]}}
