"""Retraining unattended: what starts the workflow when nobody runs a notebook.

* ``schedule`` (``rate(...)``, ``cron(...)`` or ``at(...)``): an EventBridge Scheduler schedule
  ``<project>-retrain`` in the schedule group ``<project>`` (the group carries the project's tag: schedules take
  none) whose target is the state machine, with input ``{}``.
* ``retrain_on_new_data``: the bucket sends its events to EventBridge (``EventBridgeConfiguration``) and the rule
  ``<project>-new-data`` starts the state machine for each ``Object Created`` of the data key, once per object.

Both act as the role ``<project>-triggers-role``, which Scheduler and EventBridge may assume and which may only
start this project's state machine. The execution they start names its own run (the workflow's first states,
:func:`retrain.workflow.naming_steps`).

Sources: EventBridge Scheduler user guide, "Set up the execution role", "Schedule types", "Managing a schedule
group" (deleting a group deletes its schedules); EventBridge user guide, "Using identity-based policies for
Amazon EventBridge" (a rule's target role), "Amazon EventBridge events from Amazon S3"; S3 user guide, "Using
EventBridge" (``PutBucketNotificationConfiguration`` with ``EventBridgeConfiguration``, and its event shape);
botocore's ``scheduler`` and ``events`` service models (request shapes).
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from retrain.config import Params

VERSION = "2012-10-17"
TRIGGER_PRINCIPALS = ("scheduler.amazonaws.com", "events.amazonaws.com")
TARGET_ID = "retrain"


def enabled(params: Params) -> bool:
    """True when a schedule or the new-data trigger is asked for."""
    return bool(params.schedule) or params.retrain_on_new_data


def kept(params: Params) -> str:
    """Why clean-up keeps what the triggers start and read ('' when it does not: no trigger, or
    ``keep_triggers: false``)."""
    if not (enabled(params) and params.keep_triggers):
        return ""
    what = " and ".join(filter(None, (params.schedule and f"the schedule {params.schedule}",
                                      params.retrain_on_new_data and "new data")))
    return f"keep_triggers: true ({what} start the workflow)"


def group_name(params: Params) -> str:
    return params.project_name


def schedule_name(params: Params) -> str:
    return f"{params.project_name}-retrain"


def rule_name(params: Params) -> str:
    return f"{params.project_name}-new-data"


def role_name(params: Params) -> str:
    return params.role_name("triggers")


def machine_arn(params: Params, account: str) -> str:
    return f"arn:aws:states:{params.region}:{account}:stateMachine:{params.state_machine_name}"


def trust_policy() -> dict[str, Any]:
    """Scheduler and EventBridge may assume the role (no condition keys: see the README's differences)."""
    return {"Version": VERSION, "Statement": [{"Effect": "Allow", "Principal": {"Service": list(TRIGGER_PRINCIPALS)},
                                               "Action": "sts:AssumeRole"}]}


def role_policy(params: Params, account: str) -> dict[str, Any]:
    """Start this project's state machine, nothing else (Step Functions target: ``states:StartExecution``)."""
    return {"Version": VERSION, "Statement": [{"Sid": "StartTheRetrainWorkflow", "Effect": "Allow",
                                               "Action": "states:StartExecution",
                                               "Resource": machine_arn(params, account)}]}


def new_data_pattern(bucket: str, data_key: str) -> dict[str, Any]:
    """The rule's pattern: a new object at the data key of the project's bucket (S3's EventBridge event)."""
    return {"source": ["aws.s3"], "detail-type": ["Object Created"],
            "detail": {"bucket": {"name": [bucket]}, "object": {"key": [data_key]}}}


def schedule_request(params: Params, account: str, role_arn: str) -> dict[str, Any]:
    """CreateSchedule/UpdateSchedule's request (the Step Functions templated target, input ``{}``)."""
    return {"Name": schedule_name(params), "GroupName": group_name(params),
            "ScheduleExpression": params.schedule, "ScheduleExpressionTimezone": "UTC",
            "FlexibleTimeWindow": {"Mode": "OFF"}, "State": "ENABLED",
            "Description": f"retrain {params.project_name} on {params.schedule}",
            "Target": {"Arn": machine_arn(params, account), "RoleArn": role_arn, "Input": "{}"}}


def rule_requests(params: Params, account: str, role_arn: str, bucket: str, data_key: str
                  ) -> tuple[dict[str, Any], dict[str, Any]]:
    """PutRule's and PutTargets' requests for the new-data trigger."""
    rule = {"Name": rule_name(params), "EventPattern": json.dumps(new_data_pattern(bucket, data_key)),
            "State": "ENABLED", "Description": f"retrain {params.project_name} when its data changes",
            "Tags": [{"Key": k, "Value": v} for k, v in params.tags.items()]}
    targets = {"Rule": rule_name(params),
               "Targets": [{"Id": TARGET_ID, "Arn": machine_arn(params, account), "RoleArn": role_arn}]}
    return rule, targets


def plan_requests(params: Params, account: str, bucket: str, data_key: str) -> list[tuple[str, str, dict[str, Any]]]:
    """The requests notebook 03 sends for the triggers the parameters ask for, as ``retrain plan`` checks them."""
    if not enabled(params):
        return []
    tags = [{"Key": k, "Value": v} for k, v in params.tags.items()]
    role_arn = f"arn:aws:iam::{account}:role/{role_name(params)}"
    requests: list[tuple[str, str, dict[str, Any]]] = [
        ("iam", "CreateRole", {"RoleName": role_name(params), "Tags": tags,
                               "AssumeRolePolicyDocument": json.dumps(trust_policy())}),
        ("iam", "PutRolePolicy", {"RoleName": role_name(params), "PolicyName": "start-retrain",
                                  "PolicyDocument": json.dumps(role_policy(params, account))})]
    if params.schedule:
        requests += [("scheduler", "CreateScheduleGroup", {"Name": group_name(params), "Tags": tags}),
                     ("scheduler", "CreateSchedule", schedule_request(params, account, role_arn))]
    if params.retrain_on_new_data:
        rule, targets = rule_requests(params, account, role_arn, bucket, data_key)
        requests += [("s3", "PutBucketNotificationConfiguration",
                      {"Bucket": bucket, "NotificationConfiguration": {"EventBridgeConfiguration": {}}}),
                     ("events", "PutRule", rule), ("events", "PutTargets", targets)]
    return requests


def _missing(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") in ("ResourceNotFoundException", "NoSuchEntity", "NotFound")


def _ensure_group(scheduler: Any, params: Params) -> None:
    try:
        scheduler.get_schedule_group(Name=group_name(params))
    except ClientError as exc:
        if not _missing(exc):
            raise
        scheduler.create_schedule_group(Name=group_name(params),
                                        Tags=[{"Key": k, "Value": v} for k, v in params.tags.items()])


def ensure(cloud: Any, params: Params, account: str, bucket: str, data_key: str) -> dict[str, Any]:
    """Create or update the triggers the parameters ask for and remove those they no longer ask for."""
    from retrain.iam import ensure_role

    if not enabled(params):
        return {"removed": remove(cloud, params, bucket), "schedule": None, "rule": None}
    iam = cloud.client("iam")
    role_arn = ensure_role(iam, role_name(params), trust_policy(), {"start-retrain": role_policy(params, account)},
                           description=f"starts {params.state_machine_name} on a schedule or new data",
                           propagation_seconds=params.iam_propagation_seconds, tags=params.tags).arn
    done: dict[str, Any] = {"role": role_arn, "schedule": None, "rule": None}
    scheduler, events = cloud.client("scheduler"), cloud.client("events")
    if params.schedule:
        _ensure_group(scheduler, params)
        request = schedule_request(params, account, role_arn)
        try:
            scheduler.get_schedule(Name=request["Name"], GroupName=request["GroupName"])
            scheduler.update_schedule(**request)
        except ClientError as exc:
            if not _missing(exc):
                raise
            scheduler.create_schedule(**request)
        done["schedule"] = f"{group_name(params)}/{schedule_name(params)}: {params.schedule}"
    else:
        _delete_group(scheduler, params)
    if params.retrain_on_new_data:
        cloud.client("s3").put_bucket_notification_configuration(
            Bucket=bucket, NotificationConfiguration={"EventBridgeConfiguration": {}})
        rule, targets = rule_requests(params, account, role_arn, bucket, data_key)
        events.put_rule(**rule)
        events.put_targets(**targets)
        done["rule"] = f"{rule_name(params)}: a new s3://{bucket}/{data_key}"
    else:
        _remove_new_data(cloud, params, bucket)
    return done


def _delete_group(scheduler: Any, params: Params) -> bool:
    try:  # asked first: DeleteScheduleGroup of a missing group is a server error in moto 5
        scheduler.get_schedule_group(Name=group_name(params))
        scheduler.delete_schedule_group(Name=group_name(params))  # its schedules go with it
    except ClientError as exc:
        if _missing(exc):
            return False
        raise
    return True


def _delete_rule(events: Any, params: Params) -> bool:
    try:
        events.remove_targets(Rule=rule_name(params), Ids=[TARGET_ID])
        events.delete_rule(Name=rule_name(params))
    except ClientError as exc:
        if _missing(exc):
            return False
        raise
    return True


def _remove_new_data(cloud: Any, params: Params, bucket: str | None) -> list[tuple[str, str]]:
    """The rule, then the bucket's EventBridge notifications it relied on (reset only when the rule existed: the
    bucket is the project's, and moto's GetBucketNotificationConfiguration does not return the setting)."""
    if not _delete_rule(cloud.client("events"), params):
        return []
    removed = [("eventbridge rule", rule_name(params))]
    if bucket:
        try:
            cloud.client("s3").put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={})
            removed.append(("s3 eventbridge notifications", bucket))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "NoSuchBucket":
                raise
    return removed


def remove(cloud: Any, params: Params, bucket: str | None) -> list[tuple[str, str]]:
    """Delete the schedule group (and its schedule), the rule, the bucket's EventBridge notification and the
    triggers' role; what was deleted, as ``(kind, name)``."""
    from retrain.iam import delete_role

    removed: list[tuple[str, str]] = []
    if _delete_group(cloud.client("scheduler"), params):
        removed.append(("schedule group", group_name(params)))
    removed += _remove_new_data(cloud, params, bucket)
    if delete_role(cloud.client("iam"), role_name(params)):
        removed.append(("iam role", role_name(params)))
    return removed


def status(cloud: Any, params: Params) -> dict[str, Any]:
    """The schedule (state, expression), the new-data rule (state) and the latest executions of the workflow."""
    out: dict[str, Any] = {"schedule": None, "rule": None, "executions": []}
    try:
        found = cloud.client("scheduler").get_schedule(Name=schedule_name(params), GroupName=group_name(params))
        out["schedule"] = {"name": f"{group_name(params)}/{schedule_name(params)}", "state": found["State"],
                           "expression": found["ScheduleExpression"]}
    except ClientError as exc:
        if not _missing(exc):
            raise
    try:
        rule = cloud.client("events").describe_rule(Name=rule_name(params))
        out["rule"] = {"name": rule_name(params), "state": rule["State"]}
    except ClientError as exc:
        if not _missing(exc):
            raise
    sfn = cloud.client("stepfunctions")
    machine = machine_arn(params, cloud.account_id)
    try:
        listed = sfn.list_executions(stateMachineArn=machine, maxResults=10)["executions"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "StateMachineDoesNotExist":
            raise
        listed = []
    out["executions"] = [{"name": e["name"], "status": e["status"], "start": e["startDate"].isoformat()}
                         for e in listed]
    return out


def set_state(cloud: Any, params: Params, enable: bool) -> list[str]:
    """Pause (``enable`` False) or resume the schedule and the new-data rule; what changed."""
    changed = []
    scheduler = cloud.client("scheduler")
    try:
        found = scheduler.get_schedule(Name=schedule_name(params), GroupName=group_name(params))
    except ClientError as exc:
        if not _missing(exc):
            raise
    else:  # UpdateSchedule replaces the whole schedule: send back what it has, with the new state
        keep = ("Name", "GroupName", "ScheduleExpression", "ScheduleExpressionTimezone", "FlexibleTimeWindow",
                "Target", "Description", "StartDate", "EndDate", "ActionAfterCompletion")
        scheduler.update_schedule(**{k: found[k] for k in keep if found.get(k) is not None},
                                  State="ENABLED" if enable else "DISABLED")
        changed.append(f"schedule {group_name(params)}/{schedule_name(params)} "
                       f"{'ENABLED' if enable else 'DISABLED'}")
    events = cloud.client("events")
    try:
        (events.enable_rule if enable else events.disable_rule)(Name=rule_name(params))
        changed.append(f"rule {rule_name(params)} {'ENABLED' if enable else 'DISABLED'}")
    except ClientError as exc:
        if not _missing(exc):
            raise
    return changed
