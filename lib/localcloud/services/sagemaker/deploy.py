"""Putting an endpoint config's models into service: loaded off the request thread, then published to the router
at once (blue/green), or the endpoint marked failed with the reason — an update that fails rolls back, the old
models keep serving. An update whose DeploymentConfig has a BlueGreenUpdatePolicy shifts traffic step by step
with baking periods and auto-rollback alarms (:mod:`.rollout`, :mod:`.guardrails`). Shadow variants
(``ShadowProductionVariants``) are loaded with the production variants and published in the same table."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from localcloud import settings
from localcloud.core.arns import arn
from localcloud.core.context import ServerContext
from localcloud.core.jobs import Workers, utcnow
from localcloud.services.sagemaker import capture, guardrails, hosting
from localcloud.services.sagemaker.models import Endpoint, EndpointConfig, Model, variant_summaries
from localcloud.services.sagemaker.rollout import Host, Rollout

#: each variant of a config with the model it names (None when that model is gone)
Variants = list[tuple[dict[str, Any], Model | None]]

LOG = logging.getLogger(__name__)


class Deployments:
    """Deploys endpoints for the backend. It is given what it touches: the backend's lock and router, an S3 client
    maker (acting as a model's role) and ``current(endpoint)``, whether the endpoint is still the one of its name."""

    def __init__(self, ctx: ServerContext, lock: threading.RLock, router: hosting.Router,
                 s3: Callable[[str, str | None], Any], current: Callable[[Endpoint], bool]) -> None:
        self.ctx, self.lock, self.router, self.s3, self.current = ctx, lock, router, s3, current
        self.workers = Workers()
        #: ``LOCALCLOUD_MONITORING_TIME_SCALE``: baking periods last ``seconds * time_scale``
        self.time_scale = settings.monitoring_time_scale()

    def shutdown(self) -> None:
        self.workers.shutdown()

    def start(self, endpoint: Endpoint, config: EndpointConfig, variants: Variants, region: str,
              shadows: Variants | None = None, plan: guardrails.Plan | None = None) -> None:
        """Load ``variants`` and ``shadows`` (each with its model) in the background, then publish them — at once,
        or by ``plan`` when the endpoint is already serving (call with the lock held: the endpoint's generation
        moves on, so an older deployment still loading is discarded)."""
        endpoint.generation += 1
        generation = endpoint.generation

        def run() -> None:
            live: list[hosting.LiveVariant] = []
            shadow: list[hosting.LiveVariant] = []
            try:
                for variant, model in variants:
                    live.append(self._load(endpoint, generation, variant, model, region, config))
                for variant, model in shadows or []:
                    shadow.append(self._load(endpoint, generation, variant, model, region, config))
                green = hosting.Live(tuple(live), tuple(shadow))
                blue = self.router.get(endpoint.name.lower())
                if plan is not None and blue is not None:
                    role = next((m.request.get("ExecutionRoleArn") for _, m in variants if m is not None), None)
                    Rollout(self._host(endpoint, config), endpoint, generation, blue, green, plan, region,
                            role).run()
                else:
                    self._published(endpoint, config, generation, green)
            except hosting.DeploymentError as exc:
                hosting.Live(tuple(live), tuple(shadow)).close()
                self._failed(endpoint, generation, str(exc))
            except Exception as exc:  # never leave an endpoint Creating/Updating
                LOG.exception("deploying endpoint %s failed", endpoint.name)
                hosting.Live(tuple(live), tuple(shadow)).close()
                self._failed(endpoint, generation, f"Internal error while deploying: {exc}")

        self.workers.start(f"endpoint-{endpoint.name}-{generation}", run)

    def _host(self, endpoint: Endpoint, config: EndpointConfig) -> Host:
        def live(record: Endpoint, generation: int) -> bool:
            return record.generation == generation and self.current(record)

        def finish(green: hosting.Live) -> None:
            self._published(endpoint, config, endpoint.generation, green)

        return Host(self.ctx, self.lock, self.router, self.workers.stopping, self.time_scale, live, finish)

    def _load(self, endpoint: Endpoint, generation: int, variant: dict[str, Any], model: Model | None,
              region: str, config: EndpointConfig) -> hosting.LiveVariant:
        if model is None:
            missing = arn("sagemaker", region, f"model/{str(variant.get('ModelName', '')).lower()}")
            raise hosting.DeploymentError(f'Could not find model "{missing}".')
        folder = self.ctx.workdir("sagemaker", "endpoints", endpoint.name.lower(),
                                  f"{generation}-{variant['VariantName']}")
        role = model.request.get("ExecutionRoleArn")
        loaded = hosting.load_model(self.s3(region, role), model, variant["VariantName"], folder)
        return hosting.LiveVariant(variant["VariantName"], float(variant.get("InitialVariantWeight", 1.0)), loaded,
                                   config.name, capture.settings(config.request.get("DataCaptureConfig")), role)

    def _published(self, endpoint: Endpoint, config: EndpointConfig, generation: int, live: hosting.Live) -> None:
        with self.lock:
            if endpoint.generation != generation or not self.current(endpoint):
                hosting.retire(live)  # deleted or redeployed meanwhile
                return
            self.router.publish(endpoint.name.lower(), live)
            now = utcnow()
            images = {v.name: [v.model.image] for v in (*live.variants, *live.shadows)}
            endpoint.variants = variant_summaries(config, images, now)
            endpoint.shadow_variants = variant_summaries(config, images, now, shadow=True)
            endpoint.config_name = config.name
            endpoint.data_capture = capture.summary(config.request.get("DataCaptureConfig"))
            endpoint.status = "InService"
            endpoint.failure_reason = None
            endpoint.pending = None
            endpoint.last_modified = now
        LOG.info("endpoint %s in service with config %s", endpoint.name, config.name)

    def _failed(self, endpoint: Endpoint, generation: int, reason: str) -> None:
        with self.lock:
            if endpoint.generation != generation or not self.current(endpoint):
                return
            endpoint.failure_reason = reason
            endpoint.pending = None
            endpoint.last_modified = utcnow()
            # a failed update rolls back: the old models keep serving (AWS: InService with FailureReason)
            endpoint.status = "InService" if self.router.get(endpoint.name.lower()) else "Failed"
        LOG.info("endpoint %s deployment failed: %s", endpoint.name, reason)
