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
from retrain.config import PROJECT_TAG
from retrain.iam import SERVICE_PRINCIPALS, SYNC_TRAINING_RULE
from retrain.plan import INTEGRATIONS, PLACEHOLDER, SYNC_NEEDS, Plan
from retrain.resources import ETL_MODULES
from retrain.workflow import lint

_SESSION = botocore.session.get_session()
_INPUT = re.compile(r"^\$\$\.Execution\.Input(?:\['([^']+)'\]|\.(\w+))$")
#: the IAM prefix of each botocore service name used here
IAM_PREFIX = {"stepfunctions": "states", "sagemaker": "sagemaker", "glue": "glue", "lambda": "lambda", "s3": "s3"}


def _operation(service: str, name: str) -> Any:
    model = _SESSION.get_service_model(service)
    match = next((op for op in model.operation_names if op.lower() == name.lower()), None)
    return model.operation_model(match) if match else None


def resolve(value: Any, shape: Shape | None, names: dict[str, str]) -> Any:
    """Task Parameters as the request Step Functions would send: ``.$`` paths filled (execution input by name,
    state data by a value of the member's type), JSON payloads as bytes."""
    if isinstance(value, dict) and isinstance(shape, StructureShape):
        out: dict[str, Any] = {}
        for key, item in value.items():
            member = key[:-2] if key.endswith(".$") else key
            sub = shape.members.get(member)
            if key.endswith(".$"):
                found = _INPUT.match(str(item))
                out[member] = names[found.group(1) or found.group(2)] if found else _placeholder(sub)
            else:
                out[member] = resolve(item, sub, names)
        return out
    if isinstance(shape, ListShape) and isinstance(value, list):
        return [resolve(v, shape.member, names) for v in value]
    if isinstance(shape, MapShape) and isinstance(value, dict):
        return {k: resolve(v, shape.value, names) for k, v in value.items()}
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
                         plan.execution_input)
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
        needs += needs_of(prefix, name, params, region, account) or []
        for extra in SYNC_NEEDS.get((service, name), ()) if sync else ():
            needs += needs_of(prefix, extra, params, region, account) or []
        if sync and service == "sagemaker":
            needs += [Need(f"events:{a}", f"arn:aws:events:{region}:{account}:rule/{SYNC_TRAINING_RULE}")
                      for a in ("PutTargets", "PutRule", "DescribeRule")]
    return needs


def data_needs(plan: Plan) -> dict[str, list[Any]]:
    """What the Glue job, the training job and hosting, and the Lambda function do with their roles."""
    p, region, account = plan.params.project_name, plan.params.region, plan.account
    obj = f"arn:aws:s3:::{plan.bucket}/{p}/"
    listing = f"arn:aws:s3:::{plan.bucket}"
    job = plan.execution_input["TrainingJobName"]
    return {
        "glue": [Need("s3:ListBucket", listing, {"s3:prefix": f"{p}/"}),
                 Need("s3:ListBucket", listing, {"s3:prefix": f"{p}/train/"}),
                 Need("s3:GetObject", obj + "data/customer-churn.csv"), Need("s3:GetObject", obj + "code/glue_etl.py"),
                 *[Need("s3:GetObject", obj + f"code/{name}") for name in ETL_MODULES],
                 *[Need(f"s3:{a}", obj + key) for a in ("PutObject", "DeleteObject", "GetObject")
                   for key in ("train/part-00000.csv", "validation/part-00000.csv", "features.json", "profile.json",
                               "data_report.json", "train/_temporary/0/part-00000.csv")]],
        "sagemaker": [Need("s3:ListBucket", listing, {"s3:prefix": f"{p}/train/"}),
                      Need("s3:ListBucket", listing, {"s3:prefix": f"{p}/validation/"}),
                      Need("s3:GetObject", obj + "train/part-00000.csv"),
                      Need("s3:GetObject", obj + "validation/part-00000.csv"),
                      Need("s3:PutObject", obj + f"output/{job}/output/model.tar.gz"),
                      Need("s3:GetObject", obj + f"output/{job}/output/model.tar.gz")],
        "lambda": needs_of("sagemaker", "DescribeTrainingJob", {"TrainingJobName": job}, region, account) or [],
    }


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
    plan.checked["permissions"] = count
    return problems


def check(plan: Plan) -> list[str]:
    """Every problem of the plan (empty when it is clean)."""
    problems = [f"States Language: {p}" for p in lint(plan.definition)]
    plan.checked["states"] = len(plan.definition["States"])
    problems += check_requests(plan)
    problems += check_iam(plan)
    plan.problems = problems
    return problems
