"""The retraining workflow, built with the AWS Step Functions Data Science SDK.

ETL (Glue) -> Train (SageMaker) -> Save Model -> Query Training Status (Lambda) -> Accuracy Gate (Choice) ->
Create Endpoint Config -> Check Endpoint -> Create or Update Endpoint (decided at run time) -> wait until the
endpoint is InService. A rejected model ends in the Fail state ``Model Rejected`` whose cause carries the measured
validation error.

Fixes over the original sample: the gate reads ``validation:error`` by *name* (not ``trainingMetrics[0]``);
models and endpoint configs are named per execution; the endpoint is created on the first run and updated on
later runs, decided by the workflow itself; transient service errors are retried with backoff while a job that
failed (bad data, bad hyperparameters) is not.

The definition is a pure dict (:func:`build_definition`): it builds and is tested with no cloud at all.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from stepfunctions import steps
from stepfunctions.inputs import ExecutionInput
from stepfunctions.workflow import Workflow

from retrain.config import Params
from retrain.config import new_run_id as new_run_id  # re-exported: notebook 04 imports it from here
from retrain.errors import WorkflowError
from retrain.ownership import OwnershipError
from retrain.resources import Layout

LOG = logging.getLogger(__name__)

#: Names that change with every execution travel in the execution input.
EXECUTION_INPUT_SCHEMA: dict[str, type] = {
    "GlueJobName": str,
    "TrainingJobName": str,
    "ModelName": str,
    "EndpointConfigName": str,
    "EndpointName": str,
    "LambdaFunctionName": str,
}
GATE_METRIC = "validation:error"
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


class EndpointConfigWithSelector(steps.EndpointConfigStep):
    """An ``EndpointConfigStep`` that also takes ``result_selector`` (an ASL field the SDK 2.3 does not know)."""

    def is_field_allowed(self, field_name: str) -> bool:
        return field_name == "result_selector" or super().is_field_allowed(field_name)





def transient_retry(service: str, *, interval: int = 2, attempts: int = 4, backoff: float = 2.0) -> steps.Retry:
    """A ``Retry`` for the transient errors of ``service`` (``glue``, ``sagemaker``, ``lambda``)."""
    return steps.Retry(error_equals=list(TRANSIENT_ERRORS[service]), interval_seconds=interval,
                       max_attempts=attempts, backoff_rate=backoff)


def execution_names(params: Params, run_id: str) -> dict[str, str]:
    """The execution input for run ``run_id``: per-run job, model and endpoint-config names.

    Each per-run name starts with ``<project>-<run_id>`` (the execution's own name), so one run's resources sort
    together and a re-run with a new execution name gets new names by substitution.
    """
    p = params.project_name
    return {
        "GlueJobName": params.glue_job_name,
        "TrainingJobName": f"{p}-{run_id}",
        "ModelName": f"{p}-{run_id}-model",
        "EndpointConfigName": f"{p}-{run_id}-config",
        "EndpointName": params.endpoint_name,
        "LambdaFunctionName": params.lambda_function_name,
    }


def glue_arguments(params: Params, layout: Layout) -> dict[str, str]:
    """The ETL job's arguments: where to read, where to write, how to split (all strings, as Glue wants)."""
    from retrain.resources import TRAIN_KEY, VAL_KEY

    return {
        "--S3_SOURCE": f"s3://{layout.bucket}/{layout.data_key}",
        "--S3_DEST": layout.dest,
        "--TRAIN_KEY": TRAIN_KEY,
        "--VAL_KEY": VAL_KEY,
        "--INPUT_FORMAT": params.input_format,
        "--TRAIN_FRACTION": str(params.train_fraction),
        "--SEED": str(params.seed),
    }


def rejection_cause(params: Params) -> str:
    """The ``CausePath`` of ``Model Rejected``: the measured error against the limit, via ``States.Format``."""
    return (
        "States.Format('Model rejected: validation error {} of training job {} is above the allowed "
        f"{params.max_validation_error:g} (accuracy threshold {params.accuracy_threshold:g}).', "
        "$.Payload.metrics.validationError, $$.Execution.Input.TrainingJobName)"
    )


def project_tags(params: Params) -> dict[str, str]:
    """The tag every resource of the project carries, as the SDK's steps take it: a ``{key: value}`` dict (its
    docstrings say ``list[dict]``, but ``stepfunctions.steps.utils.tags_dict_to_kv_list`` calls ``.items()``) that
    becomes SageMaker's ``[{"Key": ..., "Value": ...}]``."""
    return dict(params.tags)


@dataclass
class RetrainSteps:
    """Every state of the workflow as an SDK object, to show, test or chain."""

    etl: steps.GlueStartJobRunStep
    train: steps.TrainingStep
    save_model: steps.ModelStep
    query_status: steps.LambdaStep
    gate: steps.Choice
    endpoint_config: steps.EndpointConfigStep
    check_endpoint: steps.Task
    lookup_failed: steps.Choice
    check_again: steps.Wait
    check_failed: FailWithPaths
    create_endpoint: steps.EndpointStep
    update_endpoint: steps.EndpointStep
    wait_endpoint: steps.Wait
    describe_endpoint: steps.Task
    endpoint_ready: steps.Choice
    deployed: steps.Succeed
    reason_given: steps.Choice
    no_reason: steps.Pass
    deploy_failed: FailWithPaths
    rejected: FailWithPaths

    def chain(self) -> steps.Chain:
        """The main line; the branches hang off the gate, the endpoint check and the readiness loop."""
        return steps.Chain([self.etl, self.train, self.save_model, self.query_status, self.gate])


def build_steps(params: Params, execution_input: ExecutionInput, estimator: Any, layout: Layout) -> RetrainSteps:
    """Create the workflow's states with the SDK (no cloud calls)."""
    etl = steps.GlueStartJobRunStep(
        "Extract, Transform, Load",
        wait_for_completion=True,  # glue:startJobRun.sync: the state ends when the job run ends
        parameters={"JobName": execution_input["GlueJobName"], "Arguments": glue_arguments(params, layout)},
        result_path="$.EtlResult",
    )
    etl.add_retry(transient_retry("glue"))

    from sagemaker.inputs import TrainingInput

    train = steps.TrainingStep(
        "Train Model",
        estimator=estimator,
        data={
            "train": TrainingInput(layout.train_uri, content_type="text/csv"),
            "validation": TrainingInput(layout.validation_uri, content_type="text/csv"),
        },
        job_name=execution_input["TrainingJobName"],
        wait_for_completion=True,  # sagemaker:createTrainingJob.sync
        tags=project_tags(params),
    )
    train.add_retry(transient_retry("sagemaker", attempts=3))

    save_model = steps.ModelStep(
        "Save Model",
        model=train.get_expected_model(),
        model_name=execution_input["ModelName"],
        result_path="$.ModelStepResults",
        tags=project_tags(params),
    )
    save_model.add_retry(transient_retry("sagemaker", attempts=3))

    query_status = steps.LambdaStep(
        "Query Training Status",
        parameters={
            "FunctionName": execution_input["LambdaFunctionName"],
            "Payload": {"TrainingJobName": execution_input["TrainingJobName"], "RequiredMetrics": [GATE_METRIC]},
        },
    )
    query_status.add_retry(transient_retry("lambda", attempts=6))

    endpoint_config = EndpointConfigWithSelector(
        "Create Endpoint Config",
        endpoint_config_name=execution_input["EndpointConfigName"],
        model_name=execution_input["ModelName"],
        initial_instance_count=params.endpoint_instance_count,
        instance_type=params.endpoint_instance_type,
        result_path="$.EndpointConfig",
        # keep this run's config name in the state: the readiness check compares what the endpoint serves with it
        result_selector={"EndpointConfigArn.$": "$.EndpointConfigArn",
                         "EndpointConfigName.$": "$$.Execution.Input['EndpointConfigName']"},
        tags=project_tags(params),
    )
    endpoint_config.add_retry(transient_retry("sagemaker", attempts=3))
    deploy = deploy_steps(params, execution_input)
    endpoint_config.next(deploy["check_endpoint"])

    rejected = FailWithPaths("Model Rejected", error=REJECTED_ERROR, cause_path=rejection_cause(params),
                             comment=f"validation accuracy below {params.accuracy_threshold:g}")
    gate = steps.Choice("Accuracy Gate", comment=f"deploy when validation accuracy >= {params.accuracy_threshold:g}")
    gate.add_choice(
        steps.ChoiceRule.NumericLessThanEquals(
            variable=query_status.output()["Payload"]["metrics"]["validationError"],  # by name, not by position
            value=params.max_validation_error,
        ),
        next_step=endpoint_config,
    )
    gate.default_choice(rejected)
    return RetrainSteps(etl=etl, train=train, save_model=save_model, query_status=query_status, gate=gate,
                        endpoint_config=endpoint_config, rejected=rejected, **deploy)


def endpoint_check_steps(execution_input: ExecutionInput, create: steps.State, update: steps.State
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


def deploy_steps(params: Params, execution_input: ExecutionInput) -> dict[str, Any]:
    """The deployment section: check, create or update, then wait until the endpoint serves this run's config."""

    def endpoint_step(name: str, update: bool) -> steps.EndpointStep:
        step = steps.EndpointStep(
            name,
            endpoint_name=execution_input["EndpointName"],
            endpoint_config_name=execution_input["EndpointConfigName"],
            update=update,
            result_path="$.EndpointAction",
            tags=None if update else project_tags(params),
        )
        step.add_retry(transient_retry("sagemaker", attempts=3))
        return step

    create_endpoint = endpoint_step("Create Endpoint", update=False)
    update_endpoint = endpoint_step("Update Endpoint", update=True)
    checks = endpoint_check_steps(execution_input, create_endpoint, update_endpoint)

    wait_endpoint = steps.Wait("Wait for Endpoint", seconds=params.endpoint_poll_seconds)
    describe_endpoint = steps.Task(
        "Describe Endpoint",
        resource="arn:aws:states:::aws-sdk:sagemaker:describeEndpoint",
        parameters={"EndpointName": execution_input["EndpointName"]},
        result_path="$.Endpoint",
    )
    describe_endpoint.add_retry(steps.Retry(error_equals=[SDK_SAGEMAKER_ERROR], interval_seconds=2, max_attempts=3,
                                            backoff_rate=2.0))
    endpoint_ready = steps.Choice("Endpoint In Service?")
    deployed = steps.Succeed("Model Deployed")
    failure = deploy_failure_steps()
    status = describe_endpoint.output()["Endpoint"]["EndpointStatus"]
    serving = describe_endpoint.output()["Endpoint"]["EndpointConfigName"]
    endpoint_ready.add_choice(
        steps.ChoiceRule.And([
            steps.ChoiceRule.StringEquals(variable=status, value="InService"),
            steps.ChoiceRule.StringEqualsPath(variable=serving, value="$.EndpointConfig.EndpointConfigName"),
        ]),
        next_step=deployed,
    )
    # InService on another config: the update failed and SageMaker rolled back to the old model (FailureReason set)
    endpoint_ready.add_choice(steps.ChoiceRule.StringEquals(variable=status, value="InService"),
                              next_step=failure["reason_given"])
    endpoint_ready.add_choice(steps.ChoiceRule.StringEquals(variable=status, value="Failed"),
                              next_step=failure["reason_given"])
    endpoint_ready.default_choice(wait_endpoint)  # Creating / Updating: look again after a pause
    create_endpoint.next(wait_endpoint)
    update_endpoint.next(wait_endpoint)
    wait_endpoint.next(describe_endpoint)
    describe_endpoint.next(endpoint_ready)
    return {"create_endpoint": create_endpoint, "update_endpoint": update_endpoint, "wait_endpoint": wait_endpoint,
            "describe_endpoint": describe_endpoint, "endpoint_ready": endpoint_ready, "deployed": deployed,
            **checks, **failure}


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


def make_execution_input() -> ExecutionInput:
    """The placeholder collection for :data:`EXECUTION_INPUT_SCHEMA`."""
    return ExecutionInput(schema=dict(EXECUTION_INPUT_SCHEMA))


def workflow_tags(params: Params) -> list[dict[str, str]]:
    """The project's tag as ``Workflow(tags=...)`` takes it (Step Functions' lower-case ``key``/``value``)."""
    return [{"key": k, "value": v} for k, v in params.tags.items()]


def make_workflow(params: Params, retrain_steps: RetrainSteps, execution_input: ExecutionInput, role_arn: str,
                  client: Any) -> Workflow:
    """The SDK ``Workflow`` (not yet created in the cloud)."""
    return Workflow(
        name=params.state_machine_name,
        tags=workflow_tags(params),
        definition=retrain_steps.chain(),
        role=role_arn,
        execution_input=execution_input,
        timeout_seconds=params.execution_timeout_seconds,
        client=client,
    )


def build_definition(params: Params, estimator: Any, layout: Layout) -> dict[str, Any]:
    """The whole state machine definition as a dict (the ASL that is sent to Step Functions)."""
    ei = make_execution_input()
    chain = build_steps(params, ei, estimator, layout).chain()
    graph = steps.Graph(chain, timeout_seconds=params.execution_timeout_seconds)
    return graph.to_dict()


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


def find_state_machine(client: Any, name: str) -> str | None:
    """The ARN of the state machine called ``name``, if any."""
    for page in client.get_paginator("list_state_machines").paginate():
        for machine in page["stateMachines"]:
            if machine["name"] == name:
                return machine["stateMachineArn"]
    return None


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
