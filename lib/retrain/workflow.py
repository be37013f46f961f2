"""What the workflow needs that the AWS Step Functions Data Science SDK (2.3, frozen since 2022) lacks.

Notebook 03 builds the workflow with the SDK's steps, one state per cell; these are its helpers: the per-run names
the workflow derives at its start (from the run id in the input, or from the execution itself when a schedule or
an S3 event started it), the retries (named as AWS really names transient errors), the rejection cause, the
run-time endpoint check, a reason for a deployment that failed without one, two SDK steps extended with ASL fields
it does not know (``ErrorPath``/``CausePath``, ``ResultSelector``), linting, and creating or updating the state
machine. :func:`retrain.notebooks.workflow_definition` runs notebook 03 with no cloud to get the definition.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from stepfunctions import steps
from stepfunctions.inputs.placeholders import Placeholder
from stepfunctions.workflow import Workflow

from retrain import plain_tracebacks
from retrain.config import Params
from retrain.errors import WorkflowError
from retrain.ownership import OwnershipError, find_state_machine
from retrain.resources import Layout

plain_tracebacks()  # importing stepfunctions imported sagemaker, which installed a rich traceback hook

LOG = logging.getLogger(__name__)

#: The per-run names, computed by the workflow's first states into ``$.Run`` (see :func:`naming_steps`).
EXECUTION_INPUT_SCHEMA: dict[str, type] = {
    "RunId": str,
    "GlueJobName": str,
    "DataPrefix": str,
    "FeaturesUri": str,
    "TrainUri": str,
    "ValidationUri": str,
    "TrainingJobName": str,
    "EvaluationJobName": str,
    "EvaluationUri": str,
    "ModelPackageGroupName": str,
    "ModelName": str,
    "EndpointConfigName": str,
    "EndpointName": str,
    "LambdaFunctionName": str,
}
REJECTED_ERROR = "ModelRejected"
DEPLOY_FAILED_ERROR = "EndpointDeployFailed"
CHECK_FAILED_ERROR = "EndpointCheckFailed"

# Transient failures worth retrying, per integration, by the names Step Functions really gives them. Optimized
# integrations run on the AWS SDK for Java v1: an error the service model declares is "<Service>.<Code>Exception",
# any other (throttling, validation, internal errors) the client's base class. A job that *ran and failed* surfaces
# as States.TaskFailed and is deliberately absent: retrying bad data or a bad hyperparameter only fails again.
TRANSIENT_ERRORS = {
    "glue": [
        # StartJobRun's modelled errors (botocore glue/2017-03-31 service-2.json, operation StartJobRun): another
        # execution's run still holds the job (with queuing on, the run waits instead), a service-side failure
        "Glue.ConcurrentRunsExceededException", "Glue.InternalServiceException", "Glue.OperationTimeoutException",
        # throttling is not modelled for StartJobRun: AWS reports "Rate exceeded" as Glue.AWSGlueException
        # (recorded in the AWS Knowledge Center article "glue-throttling-rate-exceeded")
        "Glue.AWSGlueException",
    ],
    "sagemaker": [
        # SageMaker's model declares only ResourceLimitExceeded for CreateModel/EndpointConfig/Endpoint and
        # UpdateEndpoint; throttling and internal errors arrive as the base class. AWS's own example retries both
        # (Step Functions guide, "Create and manage Amazon SageMaker AI jobs with Step Functions")
        "SageMaker.AmazonSageMakerException", "SageMaker.ResourceLimitExceededException",
    ],
    "lambda": [
        # the list AWS recommends retrying (Step Functions guide, "Handle transient Lambda service exceptions")
        "Lambda.ClientExecutionTimeoutException", "Lambda.ServiceException", "Lambda.AWSLambdaException",
        "Lambda.SdkClientException", "Lambda.TooManyRequestsException",
    ],
}
#: AWS SDK integrations (aws-sdk:*) run on the SDK for Java v2: an error the model does not declare is
#: "<Service>.<Service>Exception". SageMaker's DescribeEndpoint declares none, so a missing endpoint, a denied call
#: and throttling all arrive as this name; the cause tells them apart ("Could not find endpoint ..." / "Rate
#: exceeded"). Step Functions guide, "AWS SDK service integrations" (error names).
SDK_SAGEMAKER_ERROR = "SageMaker.SageMakerException"


class FailWithPaths(steps.Fail):
    """A ``Fail`` state that also takes ``error_path`` / ``cause_path`` (ASL fields the SDK 2.3 does not know).

    ``cause_path`` may be a reference path or an intrinsic such as ``States.Format('...', $.x)``.
    """

    _EXTRA = ("error_path", "cause_path")

    def is_field_allowed(self, field_name: str) -> bool:
        return field_name in self._EXTRA or super().is_field_allowed(field_name)


class TaskWithSelector(steps.Task):
    """A ``Task`` that also takes ``result_selector`` (an ASL field the SDK 2.3 does not know)."""

    def is_field_allowed(self, field_name: str) -> bool:
        return field_name == "result_selector" or super().is_field_allowed(field_name)


class EndpointConfigWithSelector(steps.EndpointConfigStep):
    """An ``EndpointConfigStep`` that also takes ``result_selector`` (an ASL field the SDK 2.3 does not know)."""

    def is_field_allowed(self, field_name: str) -> bool:
        return field_name == "result_selector" or super().is_field_allowed(field_name)





def transient_retry(service: str, *, interval: int = 2, attempts: int = 4, backoff: float = 2.0) -> steps.Retry:
    """A ``Retry`` for the transient errors of ``service`` (``glue``, ``sagemaker``, ``lambda``)."""
    return steps.Retry(error_equals=list(TRANSIENT_ERRORS[service]), interval_seconds=interval,
                       max_attempts=attempts, backoff_rate=backoff)


def execution_names(params: Params, run_id: str, layout: Layout) -> dict[str, str]:
    """The execution input for run ``run_id``: per-run job, model and endpoint-config names, and the run's own
    data prefix (``<project>/runs/<run_id>/``: its splits, feature plan, profile, data report and evaluation), so
    runs never share data and a later run can compare with this one.

    Each per-run name starts with ``<project>-<run_id>`` (the execution's own name), so one run's resources sort
    together and a re-run with a new execution name gets new names by substitution.
    """
    p, prefix = params.project_name, layout.run_prefix(run_id)
    return {
        "RunId": run_id,
        "GlueJobName": params.glue_job_name,
        "DataPrefix": prefix,
        "FeaturesUri": prefix + "features.json",
        "TrainUri": prefix + "train/",
        "ValidationUri": prefix + "validation/",
        "TrainingJobName": f"{p}-{run_id}",
        "EvaluationJobName": f"{p}-{run_id}-eval",
        "EvaluationUri": prefix + "evaluation/",
        "ModelPackageGroupName": params.model_package_group_name,
        "ModelName": f"{p}-{run_id}-model",
        "EndpointConfigName": f"{p}-{run_id}-config",
        "EndpointName": params.endpoint_name,
        "LambdaFunctionName": params.lambda_function_name,
    }


#: ``States.StringSplit`` splits on each of these characters and drops empty parts, so the context object's
#: ``StartTime`` (``2019-03-26T20:14:13.192Z``) becomes ``[year, month, day, hour, minute, second, millis]``.
#: Sources: Step Functions guide, "Context object" (StartTime's format); recorded on AWS: localstack snapshot
#: tests/aws/services/stepfunctions/v2/intrinsic_functions/test_string_operations.snapshot.json, test_string_split
#: ("This.is+a,test=string" split on ".+,=" gives five parts; ",,,," gives none).
_CLOCK_SPLIT = "States.StringSplit($$.Execution.StartTime, '-:T.Z')"


def _clock_part(index: int) -> str:
    return f"States.ArrayGetItem({_CLOCK_SPLIT}, {index})"


#: a run id like :func:`retrain.state.new_run_id`'s (``20260101-120000-<hex>``: sortable by time), made from the
#: execution's start time and the first group of a fresh ``States.UUID()``. Not from the execution's name: a rule
#: names its executions ``<EventId>_<uuid>`` and a schedule a bare UUID (docs/triggers-and-notifications.md),
#: too long for SageMaker's 63-character job names once prefixed, and not sortable by time.
RUN_ID_FROM_EXECUTION = ("States.Format('{}{}{}-{}{}{}-{}', " + ", ".join(_clock_part(i) for i in range(6))
                         + ", States.ArrayGetItem(States.StringSplit(States.UUID(), '-'), 0))")


def run_name_parameters(params: Params, layout: Layout) -> dict[str, str]:
    """``Name the Run``'s Parameters: :func:`execution_names` as ``States.Format`` of ``$.RunId`` (the two must
    agree: tests/retrain/test_unattended.py runs both)."""
    template = execution_names(params, "{}", layout)
    out: dict[str, str] = {}
    for key, value in template.items():
        if "{}" in value:
            out[key + ".$"] = "$.RunId" if value == "{}" else f"States.Format('{value}', $.RunId)"
        else:
            out[key] = value
    return out


def naming_steps(params: Params, layout: Layout) -> dict[str, Any]:
    """The first states: every per-run name into ``$.Run``, from ``RunId`` in the input (notebook 04 passes the
    run id of ``retrain run``) or, for an execution a schedule or an S3 event started (input ``{}`` or the
    event), from the execution itself; that input is kept as ``$.Trigger``."""
    given = steps.Choice("Run Id Given?")
    from_execution = steps.Pass("Run Id From Execution",
                                parameters={"RunId.$": RUN_ID_FROM_EXECUTION, "Trigger.$": "$"})
    name_run = steps.Pass("Name the Run", parameters=run_name_parameters(params, layout), result_path="$.Run")
    given.add_choice(steps.ChoiceRule.IsPresent(variable="$.RunId", value=True), next_step=name_run)
    given.default_choice(from_execution)
    from_execution.next(name_run)
    return {"start": given, "from_execution": from_execution, "name_run": name_run}


def glue_arguments(params: Params, layout: Layout, execution_input: Placeholder, baseline: Any) -> dict[str, Any]:
    """The ETL job's arguments (strings, as Glue wants): where to read, the run's own prefix to write to, how to
    split, the schema and the check limits, and ``baseline`` — the data prefix of the model in production, or
    ``none`` — for the drift check."""
    from retrain.resources import TRAIN_KEY, VAL_KEY

    arguments: dict[str, Any] = {
        "--S3_SOURCE": f"s3://{layout.bucket}/{layout.data_key}",
        "--S3_DEST": execution_input["DataPrefix"],
        "--TRAIN_KEY": TRAIN_KEY,
        "--VAL_KEY": VAL_KEY,
        "--INPUT_FORMAT": params.input_format,
        "--TRAIN_FRACTION": str(params.train_fraction),
        "--SEED": str(params.seed),
        "--BASELINE": baseline,
    }
    if params.dataset:
        arguments["--SCHEMA"] = json.dumps(params.dataset, separators=(",", ":"))
    if params.data_checks:
        arguments["--CHECKS"] = json.dumps(params.data_checks, separators=(",", ":"))
    return arguments


def project_tags(params: Params) -> dict[str, str]:
    """The tag every resource of the project carries, as the SDK's steps take it: a ``{key: value}`` dict (its
    docstrings say ``list[dict]``, but ``stepfunctions.steps.utils.tags_dict_to_kv_list`` calls ``.items()``) that
    becomes SageMaker's ``[{"Key": ..., "Value": ...}]``."""
    return dict(params.tags)


def endpoint_check_steps(execution_input: Placeholder, create: steps.State, update: steps.State
                         ) -> dict[str, Any]:
    """Create or update, decided at run time by asking SageMaker for the endpoint.

    ``DescribeEndpoint`` failing with "Could not find endpoint" means create; "Rate exceeded" means ask again
    shortly; any other failure (access denied, a service error) fails the run with its cause instead of trying
    CreateEndpoint. (Updating only an endpoint this project tagged is enforced by the state machine role's policy,
    and checked before the execution starts.)
    """
    check_endpoint = steps.Task(
        "Check Endpoint",
        resource="arn:aws:states:::aws-sdk:sagemaker:describeEndpoint",
        parameters={"EndpointName": execution_input["EndpointName"]},
        result_path="$.ExistingEndpoint",
    )
    lookup_failed = steps.Choice("Endpoint Missing?")
    check_failed = FailWithPaths("Endpoint Check Failed", error=CHECK_FAILED_ERROR,
                                 cause_path="$.EndpointLookupError.Cause")
    check_endpoint.add_catch(steps.Catch(error_equals=[SDK_SAGEMAKER_ERROR], next_step=lookup_failed,
                                         result_path="$.EndpointLookupError"))
    check_endpoint.add_catch(steps.Catch(error_equals=["States.ALL"], next_step=check_failed,
                                         result_path="$.EndpointLookupError"))
    cause = "$.EndpointLookupError.Cause"
    lookup_failed.add_choice(steps.ChoiceRule.StringMatches(variable=cause, value="*Could not find endpoint*"),
                             next_step=create)
    check_again = steps.Wait("Wait to Check Again", seconds=2)
    check_again.next(check_endpoint)
    lookup_failed.add_choice(steps.ChoiceRule.StringMatches(variable=cause, value="*Rate exceeded*"),
                             next_step=check_again)
    lookup_failed.default_choice(check_failed)
    check_endpoint.next(update)
    return {"check_endpoint": check_endpoint, "lookup_failed": lookup_failed, "check_again": check_again,
            "check_failed": check_failed}


def deploy_failure_steps() -> dict[str, Any]:
    """``Endpoint Deploy Failed`` always fails with ``EndpointDeployFailed``: when SageMaker gives no
    ``FailureReason`` (a ``CausePath`` to a missing field is a ``States.Runtime`` error), a Pass supplies one."""
    reason_given = steps.Choice("Failure Reason Given?")
    no_reason = steps.Pass("No Failure Reason", result="the endpoint is not serving this run's configuration and "
                                                       "SageMaker gave no FailureReason; see DescribeEndpoint",
                           result_path="$.Endpoint.FailureReason")
    deploy_failed = FailWithPaths("Endpoint Deploy Failed", error=DEPLOY_FAILED_ERROR,
                                  cause_path="$.Endpoint.FailureReason")
    reason_given.add_choice(steps.ChoiceRule.IsPresent(variable="$.Endpoint.FailureReason", value=True),
                            next_step=deploy_failed)
    reason_given.default_choice(no_reason)
    no_reason.next(deploy_failed)
    return {"reason_given": reason_given, "no_reason": no_reason, "deploy_failed": deploy_failed}


class StateData(Placeholder):
    """A placeholder for a path in the state data (``$['Run']['TrainingJobName']``) that any later state may read.

    The SDK's ``StepInput`` writes the same paths but its ``Workflow`` only lets a state use one that the state
    just before it output; ``$.Run``, set once by the first states, is carried by every state after them.
    """

    def __init__(self, schema: Any = None, **kwargs: Any) -> None:
        super().__init__(schema, **kwargs)
        self.json_str_template = "${}"

    def _create_variable(self, name: str, parent: Any, type: Any = None) -> StateData:  # noqa: A002 - SDK's name
        if self.immutable:
            raise ValueError("Placeholder variable does not conform to schema set for the placeholder collection.")
        return StateData(name=name, parent=parent, type=type) if type else StateData(name=name, parent=parent)


def make_execution_input() -> Placeholder:
    """The placeholders of the per-run names in the state data (``$['Run']['TrainingJobName']``, ...), which
    :func:`naming_steps` fills at the start of every execution."""
    return StateData(schema={"Run": dict(EXECUTION_INPUT_SCHEMA)})["Run"]


def workflow_tags(params: Params) -> list[dict[str, str]]:
    """The project's tag as ``Workflow(tags=...)`` takes it (Step Functions' lower-case ``key``/``value``)."""
    return [{"key": k, "value": v} for k, v in params.tags.items()]


def lint(definition: dict[str, Any] | str) -> list[str]:
    """statelint's problems with ``definition`` (empty when valid)."""
    try:
        from statelint.linter import Linter
    except ImportError as exc:  # pragma: no cover - statelint is in the lock file
        raise WorkflowError("statelint is not installed; run `make setup` (it comes with the locked set).") from exc
    return list(Linter.validate(definition))


def check_definition(definition: dict[str, Any]) -> None:
    """Raise :class:`WorkflowError` listing every statelint problem of ``definition``."""
    problems = lint(definition)
    if problems:
        listed = "\n  ".join(problems)
        raise WorkflowError(f"the workflow definition is invalid ({len(problems)} problems):\n  {listed}")


def create_or_update(workflow: Workflow, *, settle_seconds: float = 0) -> tuple[str, str]:
    """Create the state machine, or update it when one of that name exists (the SDK's ``create()`` only logs).

    An existing state machine must carry the workflow's tags (``Workflow(tags=...)``: the project's): one without
    is someone else's and is refused. Returns ``(arn, "created" | "updated")``. ``settle_seconds`` waits after an
    update, since AWS may start executions on the previous definition for a few seconds.
    """
    definition = workflow.definition.to_dict()
    check_definition(definition)
    existing = find_state_machine(workflow.client, workflow.name)
    if existing:
        wanted = {t["key"]: t["value"] for t in workflow.tags or []}
        found = {t["key"]: t["value"] for t in workflow.client.list_tags_for_resource(resourceArn=existing)["tags"]}
        if any(found.get(k) != v for k, v in wanted.items()):
            raise OwnershipError(f"state machine {workflow.name} already exists but is not this project's (its tags "
                                 f"are {found or 'none'}, expected {wanted}), so the project will not update it. "
                                 "Change project_name (the state machine is <project_name>-retrain), or delete it "
                                 "yourself if it is a leftover.")
        workflow.state_machine_arn = existing
        workflow.update(definition=workflow.definition, role=workflow.role)
        if settle_seconds:
            time.sleep(settle_seconds)
        return existing, "updated"
    arn = workflow.create()
    if not arn:
        raise WorkflowError(f"state machine {workflow.name} was not created; see the log above.")
    return arn, "created"


def state_names(definition: dict[str, Any]) -> list[str]:
    """All state names of ``definition`` (top level), in definition order."""
    return list(definition.get("States", {}))
