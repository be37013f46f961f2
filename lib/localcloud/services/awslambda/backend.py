"""Lambda's state and operations: functions per region, their packages, and the runtimes that invoke them."""

from __future__ import annotations

import base64
import binascii
import json
import logging
import shutil
import threading
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from localcloud import settings
from localcloud.core.clients import client
from localcloud.core.context import ServerContext
from localcloud.core.jobs import Workers
from localcloud.core.logs import LogShipper
from localcloud.errors import AWSError

from . import checks
from . import code as packages
from .models import DEFAULT_MEMORY, DEFAULT_TIMEOUT, LATEST, LambdaFunction
from .runtime import IDLE_SECONDS, FunctionRuntime, FunctionSpec, Invocation, InvocationResult, RuntimeRetired

LOG = logging.getLogger(__name__)

MAX_SYNC_PAYLOAD = 6 * 1024 * 1024
MAX_ASYNC_PAYLOAD = 1024 * 1024
CODE_BUCKET = "awslambda-{region}-tasks"


@dataclass
class InvokeOutcome:
    """What an Invoke did: ran the handler (``RequestResponse``, with its result), queued it (``Event``) or only
    checked the request (``DryRun``)."""

    invocation_type: str
    request_id: str
    result: InvocationResult | None = None
    executed_version: str = LATEST
    trace_id: str = ""


class LambdaBackend:
    """Functions keyed by (region, name); ``$LATEST`` only."""

    def __init__(self, ctx: ServerContext) -> None:
        self.ctx = ctx
        self._functions: dict[tuple[str, str], LambdaFunction] = {}
        self._runtimes: dict[tuple[str, str], FunctionRuntime] = {}
        self._lock = threading.RLock()
        self.workers = Workers()
        self.events = {"accepted": 0, "failed": 0}
        self.logs = LogShipper(ctx.endpoint_url)  # each environment's stream of /aws/lambda/<function>
        self.workers.start("lambda-reaper", self._reap_loop)

    # lookup ----------------------------------------------------------------------------------------------------
    def _find(self, value: str, region: str, qualifier: str | None = None, *,
              invoking: bool = False) -> tuple[LambdaFunction, str]:
        """The function and the ARN it was invoked by (qualified when a qualifier was given).

        An unknown function is named unqualified, except by Invoke, which names the ``$LATEST`` it would have run
        (recorded on AWS: localstack snapshots tests/aws/services/lambda_/test_lambda_api.snapshot.json,
        test_ops_on_nonexisting_fn, and test_lambda.snapshot.json, test_invoke_exceptions of 24-11-2025)."""
        name, qual = checks.parse_name(value, region, qualifier)
        with self._lock:
            fn = self._functions.get((region, name))
        unqualified = f"arn:aws:lambda:{region}:{settings.ACCOUNT_ID}:function:{name}"
        if fn is None or (qual is not None and qual != LATEST):
            shown = qual or (LATEST if invoking else None)
            target = f"{unqualified}:{shown}" if shown else unqualified
            raise AWSError("ResourceNotFoundException", f"Function not found: {target}", 404)
        return fn, (f"{unqualified}:{qual}" if qual else unqualified)

    def function_by_arn(self, arn: str) -> LambdaFunction:
        """The function an ARN names (tags address functions by ARN)."""
        parts = arn.split(":")
        if len(parts) < 7 or parts[2] != "lambda":
            raise AWSError("ValidationException", f"1 validation error detected: Value '{arn}' at 'resource' failed "
                                                  "to satisfy constraint: Member must be a Lambda function ARN")
        fn, _ = self._find(parts[6], parts[3])
        return fn

    # tags ------------------------------------------------------------------------------------------------------
    def list_tags(self, arn: str) -> dict[str, str]:
        return dict(self.function_by_arn(arn).tags)

    def tag_resource(self, arn: str, tags: dict[str, str]) -> None:
        self.function_by_arn(arn).tags.update({str(k): str(v) for k, v in tags.items()})

    def untag_resource(self, arn: str, keys: list[str]) -> None:
        tags = self.function_by_arn(arn).tags
        for key in keys:
            tags.pop(key, None)

    # CRUD ------------------------------------------------------------------------------------------------------
    def create_function(self, params: dict[str, Any], region: str) -> dict[str, Any]:
        for required in ("FunctionName", "Role", "Code"):
            if params.get(required) in (None, ""):
                raise checks.validation("null", required[0].lower() + required[1:], "Member must not be null")
        name, qualifier = checks.parse_name(params["FunctionName"], region)
        if qualifier:
            raise checks.invalid("A function name passed to CreateFunction cannot carry a qualifier.")
        checks.check_limits(params)
        if not params.get("Runtime") or not params.get("Handler"):
            raise checks.invalid("Runtime and Handler are mandatory parameters for functions created with deployment "
                          "packages.")
        runtime = checks.check_runtime(params["Runtime"])
        environment = checks.check_environment(params.get("Environment"))
        if not isinstance(params["Code"], dict):
            raise checks.invalid("Code must be an object with ZipFile, or S3Bucket and S3Key.")
        with self._lock:
            if (region, name) in self._functions:
                raise AWSError("ResourceConflictException", f"Function already exist: {name}", 409)
        checks.check_role(self.ctx.endpoint_url, params["Role"], region)
        data = packages.read_package(params["Code"], self.ctx.endpoint_url, region)
        home = self.ctx.workdir("lambda", region, name)
        with self._lock:
            if (region, name) in self._functions:
                raise AWSError("ResourceConflictException", f"Function already exist: {name}", 409)
            package = packages.unpack(data, home / "code")
            fn = LambdaFunction(
                name=name, region=region, role=params["Role"], runtime=runtime, handler=params["Handler"],
                code=package, home=home, description=params.get("Description") or "",
                timeout=params.get("Timeout") or DEFAULT_TIMEOUT, memory_size=params.get("MemorySize") or DEFAULT_MEMORY,
                environment=environment, architectures=list(params.get("Architectures") or ["x86_64"]),
                ephemeral_storage=(params.get("EphemeralStorage") or {}).get("Size", 512),
                tracing_mode=(params.get("TracingConfig") or {}).get("Mode", "PassThrough"),
                tags=dict(params.get("Tags") or {}),
            )
            self._functions[(region, name)] = fn
        if params.get("Publish"):
            LOG.warning("lambda %s: Publish=true ignored; localcloud serves $LATEST only", name)
        LOG.info("lambda function %s created (%s, %s, %d bytes)", fn.arn, runtime, fn.handler, package.size)
        return fn.configuration()

    def get_function_configuration(self, value: str, region: str, qualifier: str | None = None) -> dict[str, Any]:
        fn, _ = self._find(value, region, qualifier)
        return fn.configuration()

    def get_function(self, value: str, region: str, qualifier: str | None = None) -> dict[str, Any]:
        fn, _ = self._find(value, region, qualifier)
        answer: dict[str, Any] = {
            "Configuration": fn.configuration(),
            "Code": {"RepositoryType": "S3", "Location": self._code_location(fn)},
        }
        if fn.tags:
            answer["Tags"] = dict(fn.tags)
        return answer

    def _code_location(self, fn: LambdaFunction) -> str:
        """A presigned URL of the zip in localcloud's S3, as AWS hands out one to its own bucket."""
        s3 = client(self.ctx.endpoint_url, "s3", fn.region)
        bucket = CODE_BUCKET.format(region=fn.region)
        key = f"snapshots/{settings.ACCOUNT_ID}/{fn.name}-{fn.code.zip_path.stem}"
        if fn.published_code != (bucket, key, fn.code.sha256):
            try:
                s3.head_bucket(Bucket=bucket)
            except ClientError:
                create = {} if fn.region == "us-east-1" else {
                    "CreateBucketConfiguration": {"LocationConstraint": fn.region}}
                try:
                    s3.create_bucket(Bucket=bucket, **create)
                except ClientError as exc:
                    if exc.response.get("Error", {}).get("Code") != "BucketAlreadyOwnedByYou":
                        raise
            s3.put_object(Bucket=bucket, Key=key, Body=fn.code.zip_path.read_bytes())
            fn.published_code = (bucket, key, fn.code.sha256)
        return str(s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=600))

    def update_function_code(self, value: str, params: dict[str, Any], region: str) -> dict[str, Any]:
        fn, _ = self._find(value, region)
        if params.get("Architectures"):
            fn_arch = list(params["Architectures"])
        else:
            fn_arch = fn.architectures
        data = packages.read_package(params, self.ctx.endpoint_url, region)
        if params.get("DryRun"):
            packages.unpack(data, fn.home / "code")  # checks the package; the function is unchanged
            answer = fn.configuration()
            answer["CodeSha256"] = packages.sha256_b64(data)
            return answer
        with self._lock:
            checks.check_revision(fn, params.get("RevisionId"))
            old = fn.code
            fn.code = packages.unpack(data, fn.home / "code")
            fn.architectures = fn_arch
            fn.touch()
            self._retire(fn, old if old.root != fn.code.root else None)
        LOG.info("lambda function %s: new code (%d bytes)", fn.arn, fn.code.size)
        return fn.configuration()

    def update_function_configuration(self, value: str, params: dict[str, Any], region: str) -> dict[str, Any]:
        fn, _ = self._find(value, region)
        checks.check_limits(params)
        runtime = checks.check_runtime(params["Runtime"]) if params.get("Runtime") else None
        environment = checks.check_environment(params["Environment"]) if "Environment" in params else None
        if params.get("Role") and params["Role"] != fn.role:
            checks.check_role(self.ctx.endpoint_url, params["Role"], region)
        with self._lock:
            checks.check_revision(fn, params.get("RevisionId"))
            fn.role = params.get("Role") or fn.role
            fn.runtime = runtime or fn.runtime
            fn.handler = params.get("Handler") or fn.handler
            if "Description" in params:
                fn.description = params["Description"] or ""
            fn.timeout = params.get("Timeout") or fn.timeout
            fn.memory_size = params.get("MemorySize") or fn.memory_size
            if environment is not None:
                fn.environment = environment
            if params.get("EphemeralStorage"):
                fn.ephemeral_storage = params["EphemeralStorage"].get("Size", fn.ephemeral_storage)
            if params.get("TracingConfig"):
                fn.tracing_mode = params["TracingConfig"].get("Mode", fn.tracing_mode)
            fn.touch()
            self._retire(fn, None)
        LOG.info("lambda function %s: configuration updated", fn.arn)
        return fn.configuration()

    def delete_function(self, value: str, region: str, qualifier: str | None = None) -> None:
        name, qual = checks.parse_name(value, region, qualifier)
        if qual == LATEST:
            raise checks.invalid("$LATEST version cannot be deleted without deleting the function.")
        fn, _ = self._find(value, region, qualifier)
        with self._lock:
            self._functions.pop((region, name), None)
            runtime = self._runtimes.pop((region, name), None)
        home, published = fn.home, fn.published_code

        def cleanup() -> None:
            with self._lock:
                if (region, name) not in self._functions:
                    shutil.rmtree(home, ignore_errors=True)

        if runtime is not None:
            runtime.retire(cleanup)
        else:
            cleanup()
        if published:
            try:
                client(self.ctx.endpoint_url, "s3", region).delete_object(Bucket=published[0], Key=published[1])
            except ClientError:
                LOG.debug("could not delete the code snapshot of %s", name)
        LOG.info("lambda function %s deleted", fn.arn)

    def list_functions(self, region: str, marker: str | None, max_items: int | None) -> dict[str, Any]:
        if max_items is not None and not 1 <= max_items <= 10000:
            raise checks.validation(max_items, "maxItems", "Member must have value between 1 and 10000")
        limit = min(max_items or 50, 50)
        with self._lock:
            names = sorted(name for (r, name) in self._functions if r == region)
            start = 0
            if marker:
                try:
                    after = base64.urlsafe_b64decode(marker.encode()).decode()
                except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
                    raise checks.invalid(f"Invalid marker: {marker}. Pass the NextMarker of the previous page.") from exc
                start = next((i for i, n in enumerate(names) if n > after), len(names))
            page = names[start:start + limit]
            functions = [self._functions[(region, n)].configuration() for n in page]
        answer: dict[str, Any] = {"Functions": functions}
        if start + limit < len(names):
            answer["NextMarker"] = base64.urlsafe_b64encode(page[-1].encode()).decode()
        return answer

    # runtimes --------------------------------------------------------------------------------------------------
    def _retire(self, fn: LambdaFunction, old_package: packages.CodePackage | None) -> None:
        """Called with the lock held after a change: the warm environments of the old generation retire."""
        runtime = self._runtimes.pop((fn.region, fn.name), None)
        if old_package is None:
            if runtime is not None:
                runtime.retire()
            return

        def cleanup() -> None:
            with self._lock:
                if fn.code.root != old_package.root:
                    packages.remove(old_package)

        if runtime is not None:
            runtime.retire(cleanup)
        else:
            cleanup()

    def _runtime(self, fn: LambdaFunction) -> FunctionRuntime:
        with self._lock:
            if self.workers.stopping.is_set():
                raise AWSError("ServiceException", "localcloud is shutting down.", 500, sender_fault=False)
            if self._functions.get((fn.region, fn.name)) is not fn:
                raise AWSError("ResourceNotFoundException", f"Function not found: {fn.arn}", 404)
            runtime = self._runtimes.get((fn.region, fn.name))
            if runtime is None or runtime.spec.generation != fn.generation:
                if runtime is not None:
                    runtime.retire()
                spec = FunctionSpec(
                    name=fn.name, arn=fn.arn, region=fn.region, runtime=fn.runtime, handler=fn.handler,
                    code_root=fn.code.root, environment=dict(fn.environment), timeout=fn.timeout,
                    memory_size=fn.memory_size, generation=fn.generation, log_path=fn.log_path,
                    scratch=fn.home / "environments", session=self.ctx.sessions.issue(fn.role, fn.name),
                )
                runtime = FunctionRuntime(spec, self.ctx.endpoint_url, logs=self.logs)
                self._runtimes[(fn.region, fn.name)] = runtime
            return runtime

    def invoke(self, value: str, region: str, *, qualifier: str | None, payload: bytes, invocation_type: str,
               client_context: str | None, request_id: str) -> InvokeOutcome:
        """Invoke: ``RequestResponse`` runs the handler and returns its result, ``Event`` queues the invocation,
        ``DryRun`` only checks the request."""
        checks.check_invocation_type(invocation_type)
        fn, invoked_arn = self._find(value, region, qualifier, invoking=True)
        limit = MAX_ASYNC_PAYLOAD if invocation_type == "Event" else MAX_SYNC_PAYLOAD
        if len(payload) > limit:
            raise AWSError("RequestTooLargeException",
                           f"Request must be smaller than {limit} bytes for the InvokeFunction operation", 413)
        if not payload.strip():
            payload = b"{}"
        try:
            json.loads(payload)
        except ValueError as exc:
            raise AWSError("InvalidRequestContentException",
                           f"Could not parse request body into json: Could not parse payload into json: {exc}") from exc
        context = checks.client_context(client_context)
        if invocation_type == "DryRun":
            return InvokeOutcome(invocation_type, request_id)
        invocation = Invocation(request_id=request_id, payload=payload, invoked_arn=invoked_arn,
                                client_context=context)
        if invocation_type == "Event":
            self.events["accepted"] += 1
            self.workers.start(f"lambda-event-{request_id}", lambda: self._run_event(fn, invocation))
            return InvokeOutcome(invocation_type, request_id)
        return InvokeOutcome(invocation_type, request_id, self._invoke(fn, invocation), trace_id=invocation.trace_id)

    def _invoke(self, fn: LambdaFunction, invocation: Invocation) -> InvocationResult:
        """Run on the function's current generation (a change while waiting moves the call to the new one)."""
        for _ in range(5):
            try:
                return self._runtime(fn).invoke(invocation)
            except RuntimeRetired:
                continue  # _runtime answers ResourceNotFoundException if it was deleted
        raise AWSError("ResourceConflictException", "The operation cannot be performed at this time. The function "
                       "kept changing while this invocation waited; invoke it again.", 409)

    def _run_event(self, fn: LambdaFunction, invocation: Invocation) -> None:
        if self.workers.stopping.is_set():
            return
        try:
            result = self._invoke(fn, invocation)
        except AWSError as exc:
            self.events["failed"] += 1
            LOG.warning("asynchronous invocation %s of %s failed: %s", invocation.request_id, fn.name, exc.message)
            return
        if result.function_error:
            self.events["failed"] += 1
            LOG.info("asynchronous invocation %s of %s ended in error: %s", invocation.request_id, fn.name,
                     result.payload[:500].decode("utf-8", "replace"))

    def _reap_loop(self) -> None:
        while not self.workers.stopping.wait(min(30.0, max(IDLE_SECONDS / 4, 0.5))):
            with self._lock:
                runtimes = list(self._runtimes.values())
            for runtime in runtimes:
                runtime.reap_idle()

    # server lifecycle ------------------------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        with self._lock:
            runtimes = list(self._runtimes.values())
            count = len(self._functions)
        return {"status": "running", "functions": count,
                "environments": sum(r.environments for r in runtimes),
                "async_invocations": dict(self.events)}

    def shutdown(self) -> None:
        """Kill every handler process, then stop the background threads."""
        self.workers.stopping.set()
        with self._lock:
            runtimes = list(self._runtimes.values())
            self._runtimes.clear()
        for runtime in runtimes:
            runtime.retire(kill_busy=True)
        self.workers.shutdown()
        self.logs.close()
