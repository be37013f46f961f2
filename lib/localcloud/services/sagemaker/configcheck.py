"""CreateEndpointConfig's request checks: its variants, shadow variants and data capture."""

from __future__ import annotations

from typing import Any

from localcloud.services.sagemaker import capture
from localcloud.services.sagemaker.validation import check_name, invalid, need, optional


def check_endpoint_config(params: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The production and shadow variants of a CreateEndpointConfig request, checked (ValidationException)."""
    variants = need(params, "ProductionVariants", list)
    shadows = optional(params, "ShadowProductionVariants", list) or []
    seen: set[str] = set()
    for variant in [*variants, *shadows]:
        if not isinstance(variant, dict):
            raise invalid("ProductionVariants must be a list of objects.")
        vname = check_name(variant, "VariantName")
        if vname in seen:
            raise invalid(f"The variant name(s) [{vname}] is/are repeated in the endpoint configuration.")
        seen.add(vname)
        need(variant, "ModelName")
    capture.check(params.get("DataCaptureConfig"))
    if shadows and len(variants) != 1:  # a shadow variant copies the one production variant's requests
        raise invalid("An endpoint configuration with ShadowProductionVariants must have exactly one "
                      "production variant.")
    return variants, shadows
