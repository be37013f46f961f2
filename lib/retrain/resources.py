"""The project's resources: bucket, uploaded data and code, the Glue job, the Lambda function, the estimator.

Everything is create-or-update, so running notebook 02 again brings the resources in line with the parameters.
"""

from __future__ import annotations

import io
import logging
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from retrain.config import PROJECT_TAG, Params
from retrain.errors import CloudError, ParamsError
from retrain.ownership import OwnershipError

LOG = logging.getLogger(__name__)

XGBOOST_VERSION = "1.7-1"
GLUE_VERSION = "5.0"
LAMBDA_RUNTIME = "python3.12"
LAMBDA_HANDLER = "model_gate.lambda_handler"
TRAIN_KEY = "train/"
VAL_KEY = "validation/"


def bucket_name(project: str, account: str, region: str) -> str:
    """``<project>-<account>-<region>``: unique per account and region, no sagemaker ``default_bucket()``."""
    name = f"{project}-{account}-{region}"
    if len(name) > 63:
        raise ParamsError(f"bucket name {name!r} is longer than 63 characters; shorten project_name.")
    return name


#: the Glue job's own modules (code/), shipped with the script through --extra-py-files
ETL_MODULES = ("etl_features.py", "etl_io.py", "data_checks.py")
#: the model gate's own modules (code/), zipped beside its handler: the step cache (``LookUpCache``/``StoreInCache``)
LAMBDA_MODULES = ("step_cache.py",)

@dataclass(frozen=True)
class Layout:
    """Where things live in the bucket (all under ``<project>/``)."""

    bucket: str
    project: str

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{self.key(key)}"

    def key(self, key: str) -> str:
        return f"{self.project}/{key}"

    @property
    def dest(self) -> str:
        """The Glue job's ``--S3_DEST``: train/, validation/ and features.json are written below it."""
        return f"s3://{self.bucket}/{self.project}/"

    @property
    def data_key(self) -> str:
        return self.key("data/customer-churn.csv")

    @property
    def holdout_key(self) -> str:
        return self.key("holdout/holdout.csv")

    @property
    def script_key(self) -> str:
        return self.key("code/glue_etl.py")

    @property
    def module_keys(self) -> list[str]:
        """The Glue job's own modules, shipped beside its script (``--extra-py-files``)."""
        return [self.key(f"code/{name}") for name in ETL_MODULES]

    @property
    def lambda_key(self) -> str:
        return self.key("code/model_gate.zip")

    @property
    def cache_uri(self) -> str:
        """The step cache: ``cache/<step>/<key>.json``, one entry per step output a run made (code/step_cache.py)."""
        return f"{self.dest}cache/"

    def run_prefix(self, run_id: str) -> str:
        """Where run ``run_id`` keeps its data: splits, feature plan, profile, data report, evaluation."""
        return f"{self.dest}runs/{run_id}/"

    @property
    def evaluation_code_keys(self) -> list[str]:
        """The evaluation job's code: its script and the encoding/metrics module it imports."""
        return [self.key("code/evaluation/evaluate.py"), self.key("code/evaluation/evaluation.py")]

    @property
    def evaluation_code_uri(self) -> str:
        return self.uri("code/evaluation/")

    @property
    def output_uri(self) -> str:
        return self.uri("output")


def planned_names(params: Params, account: str) -> tuple[dict[str, str], str]:
    """``(role ARNs by kind, bucket)`` as notebooks 01 and 02 name them in ``account`` (to build without a cloud)."""
    roles = {kind: f"arn:aws:iam::{account}:role/{params.role_name(kind)}"
             for kind in ("stepfunctions", "glue", "lambda", "sagemaker")}
    if params.sagemaker_role_arn:
        roles["sagemaker"] = params.sagemaker_role_arn
    return roles, bucket_name(params.project_name, account, params.region)


def ensure_bucket(s3: Any, bucket: str, region: str, tags: dict[str, str] | None = None) -> bool:
    """Create ``bucket`` in ``region`` (with ``tags``) unless it exists; True when created."""
    try:
        s3.head_bucket(Bucket=bucket)
        return False
    except ClientError as exc:
        code = exc.response["Error"]["Code"]
        if code in ("403", "Forbidden", "AccessDenied"):
            raise CloudError(f"bucket {bucket} exists but belongs to someone else or denies access; change "
                             f"project_name.") from exc
        if code not in ("404", "NoSuchBucket", "NotFound"):
            raise CloudError(f"cannot check bucket {bucket}: {exc}") from exc
    kwargs: dict[str, Any] = {"Bucket": bucket}
    if region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    s3.create_bucket(**kwargs)
    if tags:
        s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in tags.items()]})
    return True


# -- data -----------------------------------------------------------------------------------------------------

def upload_etl_code(s3: Any, code_dir: Path, layout: Layout) -> tuple[str, list[str]]:
    """Upload the Glue script and its modules as they are; ``(script URI, module URIs)``."""
    script = upload_file(s3, code_dir / "glue_etl.py", layout.bucket, layout.script_key)
    modules = [upload_file(s3, code_dir / key.rsplit("/", 1)[1], layout.bucket, key) for key in layout.module_keys]
    return script, modules


def upload_evaluation_code(s3: Any, code_dir: Path, layout: Layout) -> list[str]:
    """Upload the evaluation job's script and the module it imports (retrain's own :mod:`retrain.evaluation`)."""
    from retrain import evaluation

    sources = [code_dir / "evaluate.py", Path(evaluation.__file__)]
    return [upload_file(s3, source, layout.bucket, key) for source, key in zip(sources, layout.evaluation_code_keys,
                                                                                strict=True)]


def upload_bytes(s3: Any, data: bytes, bucket: str, key: str) -> str:
    """Put ``data`` at ``s3://bucket/key`` and return that URI."""
    s3.put_object(Bucket=bucket, Key=key, Body=data)
    return f"s3://{bucket}/{key}"


def upload_if_changed(s3: Any, data: bytes, bucket: str, key: str) -> tuple[str, bool]:
    """Put ``data`` at ``s3://bucket/key`` unless the object there holds the same bytes; ``(uri, written)``.

    With ``retrain_on_new_data`` every object written at the data key starts a run, so the same data is not
    written twice. The ETag of an object made by PutObject is the MD5 of its bytes (S3 API reference, "Common
    Response Headers": ETag), which is what is compared.
    """
    import hashlib

    try:
        etag = s3.head_object(Bucket=bucket, Key=key)["ETag"].strip('"')
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NotFound"):
            raise
        etag = None
    if etag == hashlib.md5(data, usedforsecurity=False).hexdigest():
        return f"s3://{bucket}/{key}", False
    return upload_bytes(s3, data, bucket, key), True


def upload_file(s3: Any, path: Path, bucket: str, key: str) -> str:
    return upload_bytes(s3, Path(path).read_bytes(), bucket, key)


def lambda_zip(source: Path) -> bytes:
    """A deterministic zip holding the handler file at its root (same source, same bytes), with the modules of
    :data:`LAMBDA_MODULES` found beside it."""
    buffer = io.BytesIO()
    files = [source, *(source.parent / name for name in LAMBDA_MODULES if (source.parent / name).is_file())]
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in files:
            info = zipfile.ZipInfo(path.name, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())
    return buffer.getvalue()


# -- Glue -----------------------------------------------------------------------------------------------------

def glue_job_spec(params: Params, role_arn: str, script_uri: str, module_uris: list[str]) -> dict[str, Any]:
    """The CreateJob/UpdateJob fields of the ETL job (Glue 5.0, Spark, ``G.1X`` workers).

    ``module_uris`` are the job's own modules: ``--extra-py-files`` takes a comma-separated list of S3 paths of
    Python files, put on the path of the script ("Using job parameters in AWS Glue jobs", Glue developer guide).
    """
    return {
        "Role": role_arn,
        "Description": "Splits the churn data into headerless label-first train/validation CSV for XGBoost.",
        # one run at a time: every run writes the same train/validation prefix. With job run queuing a second
        # execution's run waits (state WAITING) until the first ends, instead of failing with
        # ConcurrentRunsExceededException ("AWS Glue job run statuses": WAITING with queuing enabled)
        "ExecutionProperty": {"MaxConcurrentRuns": 1},
        "JobRunQueuingEnabled": True,
        "Command": {"Name": "glueetl", "ScriptLocation": script_uri, "PythonVersion": "3"},
        "DefaultArguments": {"--job-language": "python", "--extra-py-files": ",".join(module_uris)},
        "GlueVersion": GLUE_VERSION,
        "WorkerType": params.glue_worker_type,
        "NumberOfWorkers": params.glue_number_of_workers,
        "Timeout": 60,
    }


def ensure_glue_job(glue: Any, name: str, spec: dict[str, Any], *, tags: dict[str, str], account: str) -> str:
    """Create the job (with ``tags``) or update it to ``spec`` if it carries them; ``created`` or ``updated``."""
    try:
        glue.get_job(JobName=name)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "EntityNotFoundException":
            raise CloudError(f"cannot read Glue job {name}: {exc}") from exc
        glue.create_job(Name=name, Tags=dict(tags), **spec)
        return "created"
    found = glue.get_tags(ResourceArn=f"arn:aws:glue:{glue.meta.region_name}:{account}:job/{name}").get("Tags", {})
    _require(found, tags, "glue job", name, "project_name (the job is <project_name>-etl)")
    glue.update_job(JobName=name, JobUpdate=spec)
    return "updated"


def _require(found: dict[str, str], tags: dict[str, str], kind: str, name: str, parameter: str) -> None:
    if any(found.get(k) != v for k, v in tags.items()):
        have = f"{PROJECT_TAG}={found[PROJECT_TAG]!r}" if PROJECT_TAG in found else f"no {PROJECT_TAG} tag"
        raise OwnershipError(f"{kind} {name} already exists but is not this project's (it has {have}), so the "
                             f"project will not update it. Change {parameter}, or remove the {kind} yourself if it "
                             "is a leftover.")


# -- Lambda ---------------------------------------------------------------------------------------------------

#: how long CreateFunction is retried while IAM propagates a new role (AWS answers InvalidParameterValueException
#: "The role defined for the function cannot be assumed by Lambda." until then; IAM user guide, troubleshooting:
#: changes are eventually consistent)
ROLE_PROPAGATION_SECONDS = 120.0
ROLE_NOT_READY = "cannot be assumed by Lambda"


def ensure_lambda_function(lam: Any, name: str, role_arn: str, bucket: str, key: str, *, timeout: int = 30,
                           wait_seconds: float = 120, tags: dict[str, str] | None = None,
                           role_wait_seconds: float = ROLE_PROPAGATION_SECONDS) -> str:
    """Create the status function from the zip at ``s3://bucket/key`` or update its code and configuration.

    A new role may not be usable by Lambda yet: CreateFunction is retried for up to ``role_wait_seconds``. An
    existing function must carry ``tags``.
    """
    config = {
        "Runtime": LAMBDA_RUNTIME,
        "Role": role_arn,
        "Handler": LAMBDA_HANDLER,
        "Description": "Returns a SageMaker training job's status and metrics by name.",
        "Timeout": timeout,
        "MemorySize": 128,
    }
    try:
        lam.get_function(FunctionName=name)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceNotFoundException":
            raise CloudError(f"cannot read Lambda function {name}: {exc}") from exc
        _create_function(lam, role_wait_seconds, FunctionName=name, Code={"S3Bucket": bucket, "S3Key": key},
                         Publish=False, Tags=dict(tags or {}), **config)
        _wait_function_ready(lam, name, wait_seconds)
        return "created"
    if tags:
        arn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
        _require(lam.list_tags(Resource=arn).get("Tags", {}), tags, "lambda function", name,
                 "project_name (the function is <project_name>-model-gate)")
    lam.update_function_code(FunctionName=name, S3Bucket=bucket, S3Key=key)
    _wait_function_ready(lam, name, wait_seconds)
    lam.update_function_configuration(FunctionName=name, **config)
    _wait_function_ready(lam, name, wait_seconds)
    return "updated"


def _create_function(lam: Any, patience: float, **request: Any) -> None:
    """CreateFunction, retried with backoff while the new role is not yet usable by Lambda."""
    deadline = time.monotonic() + patience
    delay = 1.0
    while True:
        try:
            lam.create_function(**request)
            return
        except ClientError as exc:
            error = exc.response["Error"]
            if error.get("Code") != "InvalidParameterValueException" or ROLE_NOT_READY not in error.get("Message", ""):
                raise
            if time.monotonic() + delay > deadline:
                raise CloudError(f"Lambda still cannot assume role {request['Role']} after {patience:.0f}s: "
                                 f"{error.get('Message')} Check that the role trusts lambda.amazonaws.com, then run "
                                 "notebook 02 again.") from exc
            LOG.info("Lambda cannot assume %s yet (IAM propagation); retrying in %.0fs", request["Role"], delay)
            time.sleep(delay)
            delay = min(delay * 2, 15.0)


def _wait_function_ready(lam: Any, name: str, timeout: float) -> None:
    """Wait until the function is Active and its last update Successful (AWS applies changes asynchronously)."""
    deadline = time.monotonic() + timeout
    while True:
        conf = lam.get_function_configuration(FunctionName=name)
        state, update = conf.get("State", "Active"), conf.get("LastUpdateStatus", "Successful")
        if state == "Failed" or update == "Failed":
            raise CloudError(f"Lambda function {name} failed to deploy: {conf.get('StateReason') or conf.get('LastUpdateStatusReason')}")
        if state == "Active" and update == "Successful":
            return
        if time.monotonic() > deadline:
            raise CloudError(f"Lambda function {name} is still {state}/{update} after {timeout:.0f}s; try again.")
        time.sleep(1)


# -- SageMaker ------------------------------------------------------------------------------------------------

def training_image(region: str) -> str:
    """The SageMaker built-in XGBoost image URI (offline lookup), what
    ``sagemaker.image_uris.retrieve("xgboost", region, "1.7-1")`` answers, read from the same table without importing
    the SDK (``import sagemaker`` costs a notebook kernel that needs only this URI 1.4 s of CPU): the SDK's
    ``image_uri_config/xgboost.json`` names the registry account per region and the repository, and botocore's
    endpoint data the ECR host name of the region, as ``image_uris.retrieve`` takes them; the tag is the version.
    tests/retrain/test_resources.py compares the two for every region in the table."""
    import importlib.util
    import json

    from botocore.loaders import create_loader
    from botocore.regions import EndpointResolver

    spec = importlib.util.find_spec("sagemaker")  # locates the package without running its __init__
    if spec is None or not spec.submodule_search_locations:
        raise CloudError("the sagemaker package is not installed; run `make setup`.")
    table = Path(spec.submodule_search_locations[0]) / "image_uri_config" / "xgboost.json"
    version = json.loads(table.read_text())["training"]["versions"][XGBOOST_VERSION]
    if region not in version["registries"]:
        raise ParamsError(f"SageMaker's built-in XGBoost {XGBOOST_VERSION} is not offered in region {region!r}; "
                          f"choose one of {', '.join(sorted(version['registries']))}.")
    endpoint = EndpointResolver(create_loader().load_data("endpoints")).construct_endpoint("ecr", region)
    hostname = endpoint["hostname"] if endpoint else f"ecr.{region}.amazonaws.com"
    return f"{version['registries'][region]}.dkr.{hostname}/{version['repository']}:{XGBOOST_VERSION}"


def make_estimator(params: Params, sagemaker_session: Any, role_arn: str, output_path: str) -> Any:
    """The XGBoost ``Estimator`` the training step runs, hyperparameters from ``params``."""
    from sagemaker.estimator import Estimator

    estimator = Estimator(
        image_uri=training_image(params.region),
        role=role_arn,
        instance_count=params.training_instance_count,
        instance_type=params.training_instance_type,
        output_path=output_path,
        sagemaker_session=sagemaker_session,
        debugger_hook_config=False,
        disable_profiler=True,
        # StoppingCondition.MaxRuntimeInSeconds (SageMaker's default is a day): never longer than the execution
        # that waits for the job, so a stuck job cannot outlive (and keep billing after) its workflow
        max_run=params.execution_timeout_seconds,
    )
    estimator.set_hyperparameters(**params.hyperparameters)
    return estimator


# -- CloudWatch Logs -------------------------------------------------------------------------------------------

def project_log_groups(params: Params) -> list[str]:
    """The log groups only this project writes to: its Lambda function's and its endpoint's (the services name
    them; Glue's and SageMaker training's groups are shared by every job of the account and left alone)."""
    return [f"/aws/lambda/{params.lambda_function_name}", f"/aws/sagemaker/Endpoints/{params.endpoint_name}"]


def ensure_log_groups(logs: Any, params: Params) -> dict[str, str]:
    """Create the project's log groups (tagged) before the services do, and give them ``log_retention_days``:
    CloudWatch keeps log groups forever unless told otherwise. Returns group -> created / updated."""
    done: dict[str, str] = {}
    for group in project_log_groups(params):
        try:
            logs.create_log_group(logGroupName=group, tags=dict(params.tags))
            done[group] = "created"
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ResourceAlreadyExistsException":
                raise CloudError(f"cannot create log group {group}: {exc}") from exc
            done[group] = "updated"
        logs.put_retention_policy(logGroupName=group, retentionInDays=params.log_retention_days)
    return done
