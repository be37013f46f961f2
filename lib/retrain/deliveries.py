"""A second dataset with a schema of its own: synthetic parcel deliveries (seeded, byte-identical per seed).

It exists to show that the pipeline is not tied to the churn data: an id column, categorical columns, numeric
columns with some values missing, and two possible labels — ``delivery_minutes`` (regression) and ``lateness``
(multiclass: ``early``, ``on_time``, ``late``). :data:`REGRESSION_SCHEMA` and :data:`MULTICLASS_SCHEMA` are the
``dataset`` parameters that train on one label and drop the other.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REGIONS = ("north", "south", "east", "west")
VEHICLES = ("bike", "car", "van")
LATENESS = ("early", "on_time", "late")
#: the minutes promised to the customer; lateness compares the delivery time with it
PROMISED_MINUTES = 45.0

REGRESSION_SCHEMA: dict[str, Any] = {
    "label": "delivery_minutes", "task": "regression", "ids": ["order_id"], "drop": ["lateness"],
    "categorical": ["region", "vehicle", "rain"],
}
MULTICLASS_SCHEMA: dict[str, Any] = {
    "label": "lateness", "task": "multiclass", "classes": list(LATENESS), "ids": ["order_id"],
    "drop": ["delivery_minutes"], "categorical": ["region", "vehicle", "rain"],
}


def generate_deliveries(rows: int = 2000, seed: int = 7, *, missing_share: float = 0.01) -> pd.DataFrame:
    """``rows`` deliveries; ``missing_share`` of the ``traffic_index`` cells are empty (missing)."""
    rng = np.random.default_rng(seed)
    region = rng.choice(REGIONS, rows, p=[0.3, 0.25, 0.25, 0.2])
    vehicle = rng.choice(VEHICLES, rows, p=[0.3, 0.5, 0.2])
    distance = np.round(rng.gamma(2.2, 2.5, rows) + 0.3, 2)
    items = rng.integers(1, 12, rows)
    hour = rng.integers(7, 23, rows)
    traffic = np.round(np.clip(rng.normal(0.5 + 0.3 * ((hour >= 16) & (hour <= 19)), 0.15), 0, 1), 3)
    rain = rng.choice(("no", "yes"), rows, p=[0.75, 0.25])
    speed = np.select([vehicle == "bike", vehicle == "car"], [14.0, 28.0], 22.0)  # km/h in free traffic
    minutes = (distance / (speed * (1.2 - 0.7 * traffic)) * 60 + 2.5 * items
               + 6.0 * (rain == "yes") + 4.0 * (region == "west") + rng.normal(0, 4, rows))
    minutes = np.round(np.maximum(minutes, 5.0), 1)
    lateness = np.where(minutes < PROMISED_MINUTES - 10, "early",
                        np.where(minutes <= PROMISED_MINUTES + 5, "on_time", "late"))
    traffic_text = np.array([f"{t:.3f}" for t in traffic], dtype=object)
    traffic_text[rng.random(rows) < missing_share] = ""
    return pd.DataFrame({
        "order_id": [f"D{seed:03d}-{i:06d}" for i in range(rows)],
        "region": region, "vehicle": vehicle, "distance_km": distance, "items": items, "hour": hour,
        "traffic_index": traffic_text, "rain": rain, "delivery_minutes": minutes, "lateness": lateness,
    })


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m retrain.deliveries --rows N --seed S --out FILE`` writes the deliveries as CSV."""
    parser = argparse.ArgumentParser(prog="python -m retrain.deliveries", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=3000, help="deliveries to generate (default 3000)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    parser.add_argument("--out", default="data/deliveries.csv", help="CSV file to write (default data/deliveries.csv)")
    args = parser.parse_args(argv)
    if args.rows < 1:
        parser.error(f"--rows must be 1 or more, got {args.rows}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    generate_deliveries(args.rows, args.seed).to_csv(out, index=False, lineterminator="\n")
    print(f"wrote {out}: {args.rows} deliveries, seed {args.seed}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
