"""``localcloud`` command line: serve (foreground), start (background), status, stop, env (exports for SDKs);
images install/status."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys

from localcloud import lifecycle, settings
from localcloud.errors import LocalCloudError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="localcloud",
        description="An AWS-compatible cloud on 127.0.0.1: S3, IAM, STS, CloudWatch Logs, DynamoDB, SNS, SQS, "
        "EventBridge (moto) and SageMaker, SageMaker Runtime, Glue, Lambda and Step Functions that really run. Point "
        "AWS SDKs at it with eval \"$(localcloud env)\".",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("serve", "run in the foreground until Ctrl-C"),
        ("start", "start in the background and return once healthy (no-op if already running)"),
        ("status", "show whether a localcloud answers on the port (exit 0 running, 1 not)"),
        ("stop", "stop the background localcloud and every process it started"),
    ):
        cmd = sub.add_parser(name, help=text, description=text)
        cmd.add_argument("--port", type=int, default=settings.DEFAULT_PORT, help="port on 127.0.0.1 (default 4566)")
        if name in ("serve", "start"):
            cmd.add_argument("--enforce-iam", action="store_true", default=None,
                             help="Step Functions checks each service call of a workflow against the state "
                                  "machine role's IAM policies, as AWS does (also LOCALCLOUD_ENFORCE_IAM=1)")
            cmd.add_argument("--no-persist", dest="persist", action="store_false", default=None,
                             help="keep state in memory only: nothing is restored at start or kept at stop (by "
                                  "default state is kept under the server's home, see docs/persistence.md; "
                                  "also LOCALCLOUD_PERSIST=0)")
    env = sub.add_parser("env", help="print the shell exports that point AWS SDKs and the SageMaker SDK at localcloud",
                         description="Print exports for `eval \"$(localcloud env)\"`: AWS_ENDPOINT_URL and test "
                                     "credentials for every AWS SDK (boto3, the aws CLI), and a SageMaker Python SDK "
                                     "defaults file (default bucket, telemetry off) so unmodified notebooks run "
                                     "against localcloud.")
    env.add_argument("--port", type=int, default=settings.DEFAULT_PORT, help="port on 127.0.0.1 (default 4566)")
    env.add_argument("--region", default=settings.DEFAULT_REGION, help="AWS region (default us-east-1)")
    images = sub.add_parser("images", help="the algorithm images' own Python environments (install, status)",
                            description="Each built-in algorithm runs in its own Python environment with the "
                                        "library versions of its SageMaker image.")
    images.add_argument("action", choices=("install", "status"))
    images.add_argument("--force", action="store_true", help="re-create the environments even when up to date")
    return parser


def _images(action: str, force: bool) -> int:
    from localcloud import images

    if action == "install":
        images.install_all(force=force)
        return 0
    missing = 0
    for image in images.IMAGES.values():
        ok = images.installed(image)
        missing += not ok
        print(f"{image.name}: {'installed' if ok else 'NOT installed'} ({images.env_dir(image)})")
    return 1 if missing else 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "images":
            return _images(args.action, args.force)
        if args.command == "env":
            from localcloud import environment

            if lifecycle.status(args.port) is None:
                print(f"# no localcloud answers on port {args.port}: start it with `localcloud start --port "
                      f"{args.port}`", file=sys.stderr)
            print(environment.shell_exports(args.port, args.region))
            return 0
        if args.command == "serve":
            from localcloud.server import LocalCloud

            def _terminate(signum: int, frame: object) -> None:
                raise KeyboardInterrupt

            signal.signal(signal.SIGTERM, _terminate)
            cloud = LocalCloud(port=args.port, enforce_iam=args.enforce_iam, persist=args.persist)
            print(f"localcloud serving on {cloud.endpoint_url} (Ctrl-C to stop)", flush=True)
            try:
                cloud.serve_forever()
            except KeyboardInterrupt:
                pass
            return 0
        if args.command == "start":
            url, started = lifecycle.ensure_running(args.port, enforce_iam=bool(args.enforce_iam),
                                                    persist=args.persist)
            print(url if started else f"{url} (already running)")
            return 0
        if args.command == "status":
            info = lifecycle.status(args.port)
            if info is None:
                print(f"no localcloud on port {args.port}")
                return 1
            print(json.dumps(info, indent=2))
            return 0
        if args.command == "stop":
            stopped = lifecycle.stop(args.port)
            print("stopped" if stopped else f"no localcloud was running on port {args.port}")
            return 0
    except LocalCloudError as exc:
        print(f"localcloud: {exc}", file=sys.stderr)
        return 1
    return 2


if __name__ == "__main__":
    sys.exit(main())
