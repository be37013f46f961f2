"""Clean-up (notebook 05): delete what the run created, keep what the parameters say, list what remains.

``keep_endpoint`` keeps the endpoint with the configuration and model it serves (the next run updates it);
``keep_data`` keeps the bucket's ``<project>/`` objects and the model registry (the history of every model);
``keep_roles`` keeps the IAM roles. The Glue job, the Lambda function and the state machine are removed
(notebooks 02 and 03 recreate them) unless a schedule or the new-data trigger starts them and ``keep_triggers``
keeps it (:mod:`retrain.triggers`): then they stay with the data and the roles. SageMaker keeps training and processing jobs forever by design; they are listed
but cannot be deleted; log groups expire after ``log_retention_days``.

It also runs on the way out of a failed or interrupted ``retrain run``: an execution of this run that is still
going is stopped first (so it cannot create an endpoint after the clean-up), then the same deletions follow.
Only resources carrying the project's tag are deleted; one with a project name but without the tag is reported
as someone else's and left alone.
"""

from __future__ import annotations

import logging
from typing import Any

from botocore.exceptions import ClientError

from retrain import notifications, triggers
from retrain.alarms import owned_alarm, project_alarms
from retrain.cleanup_tools import (
    MISSING,
    NOT_OURS,
    CleanupReport,
    Resource,
    bucket_empty,
    candidates,
    code,
    empty_prefix,
    exists,
    gone,
    pages,
    project_bucket,
    serving,
    stop_execution,
    wait_deleted,
)
from retrain.config import Params
from retrain.errors import CloudError
from retrain.iam import delete_role
from retrain.ownership import find_state_machine, owned, tags_of
from retrain.policies import ROLE_KINDS
from retrain.remains import remaining
from retrain.rollback import kept_for_rollback
from retrain.state import RunState

LOG = logging.getLogger(__name__)

class Cleanup:
    """One clean-up, one step per resource kind, in the order notebook 05 runs them (a cell each).

    Each step deletes what is this project's and not kept, and returns the rows it added to :attr:`report`
    (what it stopped, deleted, or left alone and why), so the notebook shows what every step did.
    """

    def __init__(self, cloud: Any, params: Params, state: RunState) -> None:
        self.cloud, self.params, self.state = cloud, params, state
        self.report = CleanupReport()
        self.sagemaker_names: set[str] = set()  # models and configs seen, for the final listing
        self.fallback: set[str] = set()  # configs and models kept for `retrain rollback`

    def _rows_since(self, mark: tuple[int, int, int]) -> list[dict[str, str]]:
        report = self.report
        part = CleanupReport(report.deleted[mark[0]:], report.remaining[mark[1]:], report.stopped[mark[2]:])
        return part.rows()

    def _mark(self) -> tuple[int, int, int]:
        return len(self.report.deleted), len(self.report.remaining), len(self.report.stopped)

    def mine(self, kind: str, name: str, label: str | None = None) -> bool:
        """Whether the existing resource carries the project's tag (else it is recorded as left alone)."""
        if owned(tags_of(self.cloud, kind, name), self.params):
            return True
        LOG.warning("%s %s is not this project's: not deleted", kind, label or name)
        self.report.remaining.append(Resource(kind, label or name, NOT_OURS))
        return False

    def delete(self, kind: str, name: str, call: Any, label: str | None = None, **kwargs: Any) -> bool:
        """Delete one resource if it is this project's (``name`` identifies it, ``label`` names it in reports);
        True when it was deleted. A delete that fails (a permission, a service error) leaves the resource listed
        as unexpected, with the error, and the clean-up goes on with the rest: nothing else is left behind because
        of it (the run then says what remains and exits 1)."""
        return self.mine(kind, name, label) and self._call(kind, label or name, call, **kwargs)

    def _call(self, kind: str, name: str, call: Any, **kwargs: Any) -> bool:
        """One delete call: True when it deleted, False when it was gone already or failed (recorded)."""
        try:
            if gone(call, **kwargs):
                self.report.deleted.append(Resource(kind, name))
                return True
        except ClientError as exc:
            LOG.warning("%s %s could not be deleted: %s", kind, name, exc)
            self.report.failed(kind, name, exc)
        return False

    def stop_execution(self) -> list[dict[str, str]]:
        """Step 1: stop this run's execution if it still runs (``StopExecution``), so it creates nothing later."""
        mark = self._mark()
        stopped = stop_execution(self.cloud.client("stepfunctions"), self.state)
        if stopped:
            self.report.stopped.append(stopped)
        return self._rows_since(mark)

    def endpoint(self) -> list[dict[str, str]]:
        """Step 2: delete the endpoint (``DeleteEndpoint``) unless ``keep_endpoint``; wait until it is gone."""
        mark, sm, endpoint = self._mark(), self.cloud.client("sagemaker"), self.params.endpoint_name
        if (not self.params.keep_endpoint and exists(sm.describe_endpoint, EndpointName=endpoint)
                and self.delete("endpoint", endpoint, sm.delete_endpoint, EndpointName=endpoint)):
            wait_deleted(sm, endpoint)
        return self._rows_since(mark)

    def alarms(self) -> list[dict[str, str]]:
        """Step 2b: unless ``keep_endpoint``, delete the endpoint's auto-rollback alarms (``DeleteAlarms``): they
        watch the endpoint and go with it. Only alarms carrying the project's tag."""
        mark, cw = self._mark(), self.cloud.client("cloudwatch")
        if not self.params.keep_endpoint:
            for alarm in project_alarms(cw, self.params):
                name = alarm["AlarmName"]
                if not owned_alarm(cw, self.params, alarm):
                    LOG.warning("alarm %s is not this project's: not deleted", name)
                    self.report.remaining.append(Resource("cloudwatch alarm", name, NOT_OURS))
                else:
                    self._call("cloudwatch alarm", name, cw.delete_alarms, AlarmNames=[name])
        return self._rows_since(mark)

    def configs_and_models(self) -> list[dict[str, str]]:
        """Step 3: delete the endpoint configs and models of this project the endpoint does not serve
        (``DeleteEndpointConfig``, ``DeleteModel``): this run's and those earlier runs left, but for the last
        ``rollback_configs_kept`` deployed runs' while the endpoint is kept."""
        mark, sm = self._mark(), self.cloud.client("sagemaker")
        serving_config, serving_models = serving(sm, self.params.endpoint_name)
        models, configs = candidates(sm, self.params, self.state)
        # the last rollback_configs_kept deployed runs' configs stay for `retrain rollback` (retrain.rollback)
        fallback, fallback_models = kept_for_rollback(self.cloud, self.params,
                                                      project_bucket(self.cloud, self.params, self.state),
                                                      serving_config)
        self.fallback = fallback | fallback_models
        for config in sorted(configs - {serving_config} - fallback):
            if exists(sm.describe_endpoint_config, EndpointConfigName=config):
                self.delete("endpoint config", config, sm.delete_endpoint_config, EndpointConfigName=config)
        for model in sorted(models - serving_models - fallback_models):
            if exists(sm.describe_model, ModelName=model):
                self.delete("model", model, sm.delete_model, ModelName=model)
        self.sagemaker_names |= models | serving_models | configs | {serving_config or ""}
        return self._rows_since(mark)

    def triggers(self) -> list[dict[str, str]]:
        """Step 4a: while a schedule or the new-data trigger is on and ``keep_triggers``, keep them and what they
        need (state machine, Lambda function, Glue job, data, roles: the later steps keep them too); else delete
        them (``DeleteScheduleGroup``, ``RemoveTargets``/``DeleteRule``, the bucket's EventBridge notifications,
        the triggers' role) and the notifications topic with its subscriptions (``Unsubscribe``, ``DeleteTopic``):
        notifications are what tells someone an unattended run failed, so they stay with the triggers."""
        mark = self._mark()
        if not triggers.kept(self.params):
            bucket = project_bucket(self.cloud, self.params, self.state)
            self.report.deleted += [Resource(kind, name) for kind, name in triggers.remove(self.cloud, self.params,
                                                                                          bucket)]
            self.report.deleted += [Resource(kind, name) for kind, name in notifications.remove(
                self.cloud.client("sns"), self.params, self.cloud.account_id)]
        return self._rows_since(mark)

    def services(self) -> list[dict[str, str]]:
        """Step 4: delete the state machine, the Lambda function and the Glue job (notebooks 02 and 03 make
        them again): ``DeleteStateMachine``, ``DeleteFunction``, ``DeleteJob``; kept while triggers start them."""
        mark, params, sfn = self._mark(), self.params, self.cloud.client("stepfunctions")
        if triggers.kept(params):
            return self._rows_since(mark)
        machine = find_state_machine(sfn, params.state_machine_name)
        if machine:
            self.delete("state machine", machine, sfn.delete_state_machine, label=params.state_machine_name,
                        stateMachineArn=machine)
        lam = self.cloud.client("lambda")
        if exists(lam.get_function, FunctionName=params.lambda_function_name):
            self.delete("lambda function", params.lambda_function_name, lam.delete_function,
                        FunctionName=params.lambda_function_name)
        glue = self.cloud.client("glue")
        if exists(glue.get_job, JobName=params.glue_job_name):
            self.delete("glue job", params.glue_job_name, glue.delete_job, JobName=params.glue_job_name)
        return self._rows_since(mark)

    def data(self) -> list[dict[str, str]]:
        """Step 5: unless ``keep_data``, delete the model registry (every package, then the group) and the objects
        under ``<project>/`` (``DeleteObjects``: data, runs, evaluations, artifacts), then the bucket if it is empty
        and this project's (``DeleteBucket``)."""
        mark, params, s3 = self._mark(), self.params, self.cloud.client("s3")
        if triggers.kept(params):  # the unattended runs read the data and register in the group
            return self._rows_since(mark)
        if not params.keep_data:
            self._registry()
        bucket = project_bucket(self.cloud, params, self.state)
        if not params.keep_data and exists(s3.head_bucket, Bucket=bucket):
            # objects that could not be deleted are listed by what_remains (unexpected); the error is kept here
            where = f"s3://{bucket}/{params.project_name}/"
            error = None
            try:
                count, failed = empty_prefix(s3, bucket, f"{params.project_name}/")
                if failed:
                    key, why = next(iter(failed.items()))
                    error = f"{len(failed)} not deleted, e.g. {key}: {why}"
            except ClientError as exc:
                count, error = 0, str(exc)
            if count:
                self.report.deleted.append(Resource("s3 objects", f"{where} ({count})"))
            if error:
                self.report.errors[f"s3 objects {where}"] = error
                LOG.warning("the objects under %s were not all deleted: %s", where, error)
            if bucket_empty(s3, bucket) and owned(tags_of(self.cloud, "bucket", bucket), params):
                self._call("bucket", bucket, s3.delete_bucket, Bucket=bucket)
        return self._rows_since(mark)

    def _registry(self) -> None:
        sm, group = self.cloud.client("sagemaker"), self.params.model_package_group_name
        try:
            arn = sm.describe_model_package_group(ModelPackageGroupName=group)["ModelPackageGroupArn"]
        except ClientError as exc:
            if code(exc) in MISSING or "does not exist" in str(exc):
                return
            raise
        if not self.mine("model package group", arn, group):
            return
        versions = list(pages(sm, "list_model_packages", "ModelPackageSummaryList", "ModelPackageArn",
                               ModelPackageGroupName=group))
        for version in versions:
            name = version.rsplit("/", 2)[-2] + "/" + version.rsplit("/", 1)[-1]
            self._call("model package", name, sm.delete_model_package, ModelPackageName=version)
        self._call("model package group", group, sm.delete_model_package_group, ModelPackageGroupName=group)

    def roles(self) -> list[dict[str, str]]:
        """Step 6: unless ``keep_roles``, delete the project's roles with their policies (``DeleteRolePolicy``,
        ``DeleteRole``); a SageMaker role given in ``sagemaker_role_arn`` is not ours and stays."""
        mark, params = self._mark(), self.params
        if not params.keep_roles and not triggers.kept(params):
            iam = self.cloud.client("iam")
            for kind in ROLE_KINDS:
                if kind == "sagemaker" and params.sagemaker_role_arn:
                    continue
                name = params.role_name(kind)
                if exists(iam.get_role, RoleName=name) and self.mine("iam role", name):
                    try:
                        if delete_role(iam, name):
                            self.report.deleted.append(Resource("iam role", name))
                    except CloudError as exc:
                        LOG.warning("%s", exc)
                        self.report.failed("iam role", name, exc)
        return self._rows_since(mark)

    def what_remains(self) -> list[dict[str, str]]:
        """Last: list everything of this project that still exists, each with the parameter or rule that keeps
        it ("UNEXPECTED" when nothing does)."""
        mark = self._mark()
        left_alone = {(r.kind, r.name) for r in self.report.remaining}
        self.report.remaining += [r for r in remaining(self.cloud, self.params, self.state, self.sagemaker_names,
                                                       self.fallback)
                                  if (r.kind, r.name) not in left_alone]
        return self._rows_since(mark)

    #: the steps in order (what :func:`clean_up` runs)
    STEPS = ("stop_execution", "endpoint", "alarms", "configs_and_models", "services", "data", "roles", "what_remains")


def clean_up(cloud: Any, params: Params, state: RunState) -> CleanupReport:
    """Every step of :class:`Cleanup` in order: stop this run's execution if it still runs; delete the run's
    resources as the ``keep_*`` parameters say; then list what remains and why."""
    cleanup = Cleanup(cloud, params, state)
    for step in Cleanup.STEPS:
        getattr(cleanup, step)()
    return cleanup.report
