"""The checks of ``retrain plan`` (see :mod:`retrain.plan`): States Language, botocore's models, IAM."""

from __future__ import annotations

import json
import re
from typing import Any

import botocore.session
from botocore.exceptions import ParamValidationError
from botocore.model import ListShape, MapShape, Shape, StructureShape
from botocore.validate import validate_parameters

from localcloud.iam import Need, evaluate, needs_of, source_context, trusts
from retrain import triggers
from retrain.config import PROJECT_TAG
from retrain.deployment import alarm_names
from retrain.plan import INTEGRATIONS, PLACEHOLDER, SYNC_NEEDS, Plan
from retrain.policies import SERVICE_PRINCIPALS, SYNC_PROCESSING_RULE, SYNC_TRAINING_RULE
from retrain.resources import ETL_MODULES
from retrain.workflow import lint

_SESSION = botocore.session.get_session()
#: a per-run name the workflow's first states put in ``$.Run`` (retrain.workflow.naming_steps)
_INPUT = re.compile(r"^\$(?:\['Run'\]\['([^']+)'\]|\.Run\.(\w+))$")
#: the IAM prefix of each botocore service name used here
IAM_PREFIX = {"stepfunctions": "states", "sagemaker": "sagemaker", "glue": "glue", "lambda": "lambda", "s3": "s3",
              "sns": "sns"}


def _operation(service: str, name: str) -> Any:
    model = _SESSION.get_service_model(service)
    match = next((op for op in model.operation_names if op.lower() == name.lower()), None)
    return model.operation_model(match) if match else None


def resolve(value: Any, shape: Shape | None, names: dict[str, str], known: dict[str, Any] | None = None) -> Any:
    """Task Parameters as the request Step Functions would send: ``.$`` paths filled (the run's names by name,
    state data from ``known`` when given, else by a value of the member's type), JSON payloads as bytes."""
    if isinstance(value, dict) and isinstance(shape, StructureShape):
        out: dict[str, Any] = {}
        for key, item in value.items():
            member = key[:-2] if key.endswith(".$") else key
            sub = shape.members.get(member)
            if key.endswith(".$"):
                found = _INPUT.match(str(item))
                out[member] = (names[found.group(1) or found.group(2)] if found
                               else (known or {}).get(str(item), _placeholder(sub)))
            else:
                out[member] = resolve(item, sub, names, known)
        return out
    if isinstance(shape, ListShape) and isinstance(value, list):
        return [resolve(v, shape.member, names, known) for v in value]
    if isinstance(shape, MapShape) and isinstance(value, dict):
        return {k: resolve(v, shape.value, names, known) for k, v in value.items()}
    if shape is not None and shape.type_name == "blob" and not isinstance(value, (bytes, str)):
        return json.dumps(value).encode()
    return value


def _placeholder(shape: Shape | None) -> Any:
    if shape is None:
        return "x"
    if isinstance(shape, StructureShape):
        return {}
    if isinstance(shape, ListShape):
        return []
    return PLACEHOLDER.get(shape.type_name, "x")


def state_values(plan: Plan) -> dict[str, Any]:
    """Values the workflow's state data holds at run time, for the paths whose value decides a permission."""
    p, names = plan.params, plan.execution_input
    package = (f"arn:aws:sagemaker:{p.region}:{plan.account}:model-package/"
               f"{p.model_package_group_name.lower()}/1")
    return {"$.Registered.ModelPackageArn": package,
            "$.Training.ModelArtifacts.S3ModelArtifacts":
                f"s3://{plan.bucket}/{p.project_name}/output/{names['TrainingJobName']}/output/model.tar.gz"}


def tasks(plan: Plan) -> list[tuple[str, str, str, dict[str, Any], bool]]:
    """``(state, service, operation, parameters, sync)`` of every Task, parameters resolved."""
    found = []
    for name, state in plan.definition["States"].items():
        if state.get("Type") != "Task":
            continue
        resource = state["Resource"].split(":::", 1)[1]
        sync = resource.endswith(".sync")
        resource = resource.removesuffix(".sync")
        if resource.startswith("aws-sdk:"):
            _, service, action = resource.split(":")
        else:
            service, action = INTEGRATIONS[resource]
        operation = _operation(service, action)
        params = resolve(state.get("Parameters", {}), operation.input_shape if operation else None,
                         plan.execution_input, state_values(plan))
        found.append((name, service, operation.name if operation else action, params, sync))
    return found


def check_requests(plan: Plan) -> list[str]:
    problems = []
    for service, name, params in plan.requests:
        operation = _operation(service, name)
        try:
            validate_parameters(params, operation.input_shape)
        except ParamValidationError as exc:
            problems.append(f"{service} {name}: {exc}")
    for state, service, name, params, _ in tasks(plan):
        operation = _operation(service, name)
        if operation is None:
            problems.append(f"state {state!r}: {service} has no operation {name}")
            continue
        try:
            validate_parameters(params, operation.input_shape)
        except ParamValidationError as exc:
            problems.append(f"state {state!r} ({service} {name}): {exc}")
    plan.checked["requests"] = len(plan.requests) + len(tasks(plan))
    return problems


def _denied(documents: list[dict[str, Any]], role: str, needs: list[Any], context: dict[str, str]) -> list[str]:
    problems = []
    for need in needs:
        if not evaluate(documents, need.action, need.resource, {**context, **need.context}).allowed:
            problems.append(f"the {role} role may not {need.action} on {need.resource}")
    return problems


def workflow_needs(plan: Plan) -> list[Any]:
    """What the state machine role needs for every task, ``.sync`` polling and stopping included."""
    region, account = plan.params.region, plan.account
    needs = []
    for _, service, name, params, sync in tasks(plan):
        prefix = IAM_PREFIX[service]
        if (service, name) == ("sns", "Publish"):  # sns:Publish on the topic (Service Authorization Reference)
            needs.append(Need("sns:Publish", params["TopicArn"]))
            continue
        needs += needs_of(prefix, name, params, region, account) or []
        for extra in SYNC_NEEDS.get((service, name), ()) if sync else ():
            needs += needs_of(prefix, extra, params, region, account) or []
        if sync and service == "sagemaker":
            rule = SYNC_PROCESSING_RULE if name == "CreateProcessingJob" else SYNC_TRAINING_RULE
            needs += [Need(f"events:{a}", f"arn:aws:events:{region}:{account}:rule/{rule}")
                      for a in ("PutTargets", "PutRule", "DescribeRule")]
    return needs


def data_needs(plan: Plan) -> dict[str, list[Any]]:
    """What the Glue job, the training and evaluation jobs and hosting, and the Lambda function do with their
    roles (one run's keys: its own prefix under runs/, the champion's data as the drift baseline)."""
    p, region, account = plan.params.project_name, plan.params.region, plan.account
    names = plan.execution_input
    obj = f"arn:aws:s3:::{plan.bucket}/{p}/"
    run = names["DataPrefix"].split(f"/{p}/", 1)[1]  # runs/<run_id>/
    listing = f"arn:aws:s3:::{plan.bucket}"
    job = names["TrainingJobName"]
    model = obj + f"output/{job}/output/model.tar.gz"
    sm = [("DescribeTrainingJob", {"TrainingJobName": job}), ("DescribeEndpoint", {"EndpointName": plan.params.endpoint_name}),
          ("DescribeEndpointConfig", {"EndpointConfigName": names["EndpointConfigName"]}),
          ("DescribeModel", {"ModelName": names["ModelName"]})]
    package = f"arn:aws:sagemaker:{region}:{account}:model-package/{plan.params.model_package_group_name.lower()}/1"
    return {
        "glue": [Need("s3:ListBucket", listing, {"s3:prefix": f"{p}/"}),
                 Need("s3:ListBucket", listing, {"s3:prefix": f"{p}/{run}train/"}),
                 Need("s3:GetObject", obj + "data/customer-churn.csv"), Need("s3:GetObject", obj + "code/glue_etl.py"),
                 *[Need("s3:GetObject", obj + f"code/{name}") for name in ETL_MODULES],
                 Need("s3:GetObject", obj + "runs/champion-run/features.json"),
                 Need("s3:GetObject", obj + "runs/champion-run/profile.json"),
                 *[Need(f"s3:{a}", obj + run + key) for a in ("PutObject", "DeleteObject", "GetObject")
                   for key in ("train/part-00000.csv", "validation/part-00000.csv", "features.json", "profile.json",
                               "data_report.json", "train/_temporary/0/part-00000.csv")]],
        "sagemaker": [Need("s3:ListBucket", listing, {"s3:prefix": f"{p}/{run}train/"}),
                      Need("s3:ListBucket", listing, {"s3:prefix": f"{p}/{run}validation/"}),
                      Need("s3:GetObject", obj + run + "train/part-00000.csv"),
                      Need("s3:GetObject", obj + run + "validation/part-00000.csv"),
                      Need("s3:PutObject", model), Need("s3:GetObject", model),
                      # the evaluation job: its code, the held-back rows, both models and their features
                      Need("s3:ListBucket", listing, {"s3:prefix": f"{p}/code/evaluation/"}),
                      Need("s3:GetObject", obj + "code/evaluation/evaluate.py"),
                      Need("s3:GetObject", obj + "holdout/holdout.csv"),
                      Need("s3:GetObject", obj + run + "features.json"),
                      Need("s3:GetObject", obj + "output/champion-job/output/model.tar.gz"),
                      Need("s3:PutObject", obj + run + "evaluation/evaluation.json"),
                      # shadow testing: the endpoint writes its data capture as the model's role (retrain.shadow)
                      *[Need("s3:PutObject", obj + run + f"capture/{plan.params.endpoint_name}/{variant}/2026/01/01/"
                             "00/00-00-000-example.jsonl") for variant in ("AllTraffic", "Shadow")
                        if plan.params.shadow],
                      # a guarded update reads its rollback alarms as the model's role (retrain.policies)
                      *[Need("cloudwatch:DescribeAlarms", f"arn:aws:cloudwatch:{region}:{account}:alarm:{name}")
                        for name in alarm_names(plan.params)]],
        "lambda": [need for name, request in sm for need in needs_of("sagemaker", name, request, region, account) or []]
        + (needs_of("sagemaker", "DescribeModelPackage", {"ModelPackageName": package}, region, account) or [])
        + [Need("s3:GetObject", obj + run + "evaluation/evaluation.json"),
           Need("s3:PutObject", obj + run + "record.json")] + cache_needs(plan),
    }


def cache_needs(plan: Plan) -> list[Any]:
    """What the Lambda function does for the step cache (code/step_cache.py), with ``cache: true``: hash the data
    and the ETL code, read and write an entry, list an entry and the outputs it points at."""
    if not plan.params.cache:
        return []
    p = plan.params.project_name
    obj, listing = f"arn:aws:s3:::{plan.bucket}/{p}/", f"arn:aws:s3:::{plan.bucket}"
    entry = "cache/etl/0123abcd.json"
    return [Need("s3:GetObject", obj + "data/customer-churn.csv"), Need("s3:GetObject", obj + "code/glue_etl.py"),
            *[Need("s3:GetObject", obj + f"code/{name}") for name in ETL_MODULES],
            Need("s3:GetObject", obj + entry), Need("s3:PutObject", obj + entry),
            *[Need("s3:ListBucket", listing, {"s3:prefix": f"{p}/{key}"})
              for key in (entry, "runs/earlier-run/features.json", "runs/earlier-run/train/",
                          "output/earlier-job/output/model.tar.gz")]]


def check_iam(plan: Plan) -> list[str]:
    problems = []
    tag = {f"aws:ResourceTag/{PROJECT_TAG}": plan.params.project_name}
    documents = {kind: list(role["policies"].values()) for kind, role in plan.roles.items()}
    needs = workflow_needs(plan)
    problems += _denied(documents["stepfunctions"], "stepfunctions", needs, tag)
    count = len(needs)
    for kind, wanted in data_needs(plan).items():
        if kind == "sagemaker" and plan.params.sagemaker_role_arn:
            continue  # a role the user gave: its policies are not ours to see
        problems += _denied(documents[kind], kind, wanted, {})
        count += len(wanted)
    for kind, role in plan.roles.items():
        if kind == "sagemaker" and plan.params.sagemaker_role_arn:
            continue
        sends = kind in ("stepfunctions", "sagemaker")  # the services that document aws:SourceAccount
        context = source_context(plan.account, f"arn:aws:{kind}:{plan.params.region}:{plan.account}:x") if sends \
            else {}
        if not trusts(role["trust"], SERVICE_PRINCIPALS[kind], context):
            problems.append(f"the trust policy of the {kind} role does not let {SERVICE_PRINCIPALS[kind]} assume it")
        count += 1
    trigger_problems, trigger_count = check_triggers(plan)
    plan.checked["permissions"] = count + trigger_count
    return problems + trigger_problems


def check_triggers(plan: Plan) -> tuple[list[str], int]:
    """The triggers' role: Scheduler and EventBridge may assume it, and it may start the state machine."""
    p = plan.params
    if not triggers.enabled(p):
        return [], 0
    machine = triggers.machine_arn(p, plan.account)
    problems = _denied([triggers.role_policy(p, plan.account)], "triggers",
                       [Need("states:StartExecution", machine)], {})
    principals = [principal for principal, on in (("scheduler.amazonaws.com", bool(p.schedule)),
                                                  ("events.amazonaws.com", p.retrain_on_new_data)) if on]
    problems += [f"the trust policy of the triggers role does not let {principal} assume it"
                 for principal in principals if not trusts(triggers.trust_policy(), principal, {})]
    return problems, 1 + len(principals)


def check(plan: Plan) -> list[str]:
    """Every problem of the plan (empty when it is clean)."""
    problems = [f"States Language: {p}" for p in lint(plan.definition)]
    plan.checked["states"] = len(plan.definition["States"])
    problems += check_requests(plan)
    problems += check_iam(plan)
    plan.problems = problems
    return problems
