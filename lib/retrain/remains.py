"""What of the project still exists after a clean-up, each with the parameter or rule that keeps it (or none:
then it should not be there). Used by the clean-up's last step and by anyone who wants to know what remains."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from retrain import notifications, triggers
from retrain.alarms import owned_alarm, project_alarms
from retrain.cleanup_tools import (
    MISSING,
    Resource,
    bucket_empty,
    code,
    exists,
    pages,
    project_bucket,
    serving,
)
from retrain.config import Params
from retrain.ownership import find_state_machine
from retrain.policies import ROLE_KINDS
from retrain.resources import project_log_groups
from retrain.state import RunState


def remaining(cloud: Any, params: Params, state: RunState, names: set[str] | None = None,
              fallback: set[str] | None = None) -> list[Resource]:
    """Every resource of this project that still exists, each with the reason it may (or '' if it should not);
    ``fallback``: the configs and models kept for ``retrain rollback``."""
    sm = cloud.client("sagemaker")
    out: list[Resource] = []
    keep_ep = "keep_endpoint: true" if params.keep_endpoint else ""
    serving_config, serving_models = serving(sm, params.endpoint_name)
    if serving_config is not None:
        out.append(Resource("endpoint", params.endpoint_name, keep_ep))
    back = f"rollback_configs_kept: {params.rollback_configs_kept} (retrain rollback returns to it)"
    for name in sorted(n for n in (names or set()) if n):
        if exists(sm.describe_endpoint_config, EndpointConfigName=name):
            out.append(Resource("endpoint config", name, keep_ep if name == serving_config else
                                back if name in (fallback or set()) else ""))
        elif exists(sm.describe_model, ModelName=name):
            out.append(Resource("model", name, keep_ep if name in serving_models else
                                back if name in (fallback or set()) else ""))
    cw = cloud.client("cloudwatch")
    out += [Resource("cloudwatch alarm", a["AlarmName"], keep_ep and f"{keep_ep} (it watches the endpoint)")
            for a in project_alarms(cw, params) if owned_alarm(cw, params, a)]
    out += [Resource(f"{kind} job", job, f"SageMaker keeps {kind} jobs (cannot be deleted)")
            for kind, listing, key, name in (("training", "list_training_jobs", "TrainingJobSummaries", "TrainingJobName"),
                                            ("processing", "list_processing_jobs", "ProcessingJobSummaries",
                                             "ProcessingJobName"))
            for job in pages(sm, listing, key, name, NameContains=params.project_name)]
    try:
        sm.describe_model_package_group(ModelPackageGroupName=params.model_package_group_name)
        out.append(Resource("model package group", params.model_package_group_name,
                            "keep_data: true (the registry: every model with its evaluation)" if params.keep_data
                            else ""))
    except ClientError as exc:
        if code(exc) not in MISSING and "does not exist" not in str(exc):
            raise
    logs = cloud.client("logs")
    for group in project_log_groups(params):
        found = logs.describe_log_groups(logGroupNamePrefix=group).get("logGroups", [])
        if any(g["logGroupName"] == group for g in found):
            out.append(Resource("log group", group, f"expires: retention {params.log_retention_days} days"))
    trig = triggers.kept(params)
    if find_state_machine(cloud.client("stepfunctions"), params.state_machine_name):
        out.append(Resource("state machine", params.state_machine_name, trig))
    if exists(cloud.client("lambda").get_function, FunctionName=params.lambda_function_name):
        out.append(Resource("lambda function", params.lambda_function_name, trig))
    if exists(cloud.client("glue").get_job, JobName=params.glue_job_name):
        out.append(Resource("glue job", params.glue_job_name, trig))
    out += remaining_data_and_roles(cloud, params, state)
    return out + remaining_triggers(cloud, params)


def remaining_triggers(cloud: Any, params: Params) -> list[Resource]:
    """The schedule group, the new-data rule and the triggers' role, if they exist (kept while triggers are on
    and ``keep_triggers``)."""
    out, trig = [], triggers.kept(params)
    if exists(cloud.client("scheduler").get_schedule_group, Name=triggers.group_name(params)):
        out.append(Resource("schedule group", triggers.group_name(params), trig))
    if exists(cloud.client("events").describe_rule, Name=triggers.rule_name(params)):
        out.append(Resource("eventbridge rule", triggers.rule_name(params), trig))
    if exists(cloud.client("iam").get_role, RoleName=triggers.role_name(params)):
        out.append(Resource("iam role", triggers.role_name(params), trig))
    topic = notifications.topic_arn(params, cloud.account_id)
    if exists(cloud.client("sns").get_topic_attributes, TopicArn=topic):
        out.append(Resource("sns topic", notifications.topic_name(params), trig))
    return out


def remaining_data_and_roles(cloud: Any, params: Params, state: RunState) -> list[Resource]:
    out: list[Resource] = []
    bucket = project_bucket(cloud, params, state)
    s3 = cloud.client("s3")
    keep_data = "keep_data: true" if params.keep_data else triggers.kept(params)
    try:
        listing = s3.list_objects_v2(Bucket=bucket, Prefix=f"{params.project_name}/")
        count = listing.get("KeyCount", len(listing.get("Contents", [])))
        if count:
            out.append(Resource("s3 objects", f"s3://{bucket}/{params.project_name}/ ({count})", keep_data))
        held = ("holds this project's objects listed above" if count else
                "holds objects of other projects" if not bucket_empty(s3, bucket) else "")
        out.append(Resource("bucket", bucket, keep_data or held))
    except ClientError as exc:
        if code(exc) not in MISSING:
            raise
    iam = cloud.client("iam")
    for kind in ROLE_KINDS:
        name = params.role_name(kind)
        if exists(iam.get_role, RoleName=name):
            out.append(Resource("iam role", name, "keep_roles: true" if params.keep_roles else triggers.kept(params)))
    return out
