"""Synthetic customer-churn data in the raw schema (seeded, vectorised, byte-identical per seed).

Run ``python -m retrain.data [--rows 3333] [--seed 42] [--out data/customer-churn.csv]``.

One row per customer of a mobile operator. Usage columns follow the shape of the public churn data set (per-period
minutes and calls, charges = minutes x a fixed per-period rate). Churn is driven mostly by heavy day-time usage
without a voice-mail plan, many customer-service calls with modest usage, and the international plan with heavy
or awkward international use, plus a little noise; the share of churners is fixed at 14.5 %.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from retrain.errors import ParamsError

LOG = logging.getLogger(__name__)

STATES: tuple[str, ...] = (
    "AK", "AL", "AR", "AZ", "CA", "CO", "CT", "DC", "DE", "FL", "GA", "HI", "IA", "ID", "IL", "IN", "KS",
    "KY", "LA", "MA", "MD", "ME", "MI", "MN", "MO", "MS", "MT", "NC", "ND", "NE", "NH", "NJ", "NM", "NV",
    "NY", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VA", "VT", "WA", "WI", "WV", "WY",
)  # fmt: skip
AREA_CODES: tuple[int, ...] = (408, 415, 510)
COLUMNS: tuple[str, ...] = (
    "State", "Account Length", "Area Code", "Phone", "Int'l Plan", "VMail Plan", "VMail Message",
    "Day Mins", "Day Calls", "Day Charge", "Eve Mins", "Eve Calls", "Eve Charge",
    "Night Mins", "Night Calls", "Night Charge", "Intl Mins", "Intl Calls", "Intl Charge",
    "CustServ Calls", "Churn?",
)  # fmt: skip
LABEL = "Churn?"
#: Price per minute of each period, in dollars; a charge is minutes x rate rounded half-up to cents.
RATES: dict[str, float] = {"Day": 0.17, "Eve": 0.085, "Night": 0.045, "Intl": 0.27}
#: Rates in thousandths of a cent per tenth of a minute, so charges are computed in exact integers.
_RATE_MILLICENTS_PER_TENTH: dict[str, int] = {"Day": 1700, "Eve": 850, "Night": 450, "Intl": 2700}
CHURN_RATE = 0.145
#: Decimal places written for float columns; every other column is an integer or a string.
DECIMALS: dict[str, int] = {f"{p} Mins": 1 for p in RATES} | {f"{p} Charge": 2 for p in RATES}
DEFAULT_ROWS = 3333
DEFAULT_SEED = 42
DEFAULT_OUT = "data/customer-churn.csv"
_CHUNK_ROWS = 100_000


def _normal_int(rng: np.random.Generator, n: int, mean: float, sd: float, lo: int, hi: int) -> np.ndarray:
    return np.clip(np.rint(rng.normal(mean, sd, n)), lo, hi).astype(np.int64)


def _tenths(rng: np.random.Generator, n: int, mean: float, sd: float, lo: float, hi: float) -> np.ndarray:
    """Minutes drawn from a clipped normal, as integer tenths of a minute."""
    return _normal_int(rng, n, mean * 10, sd * 10, round(lo * 10), round(hi * 10))


def _charge_cents(tenths: np.ndarray, period: str) -> np.ndarray:
    """minutes x rate, rounded half-up to whole cents, in exact integer arithmetic."""
    return (tenths * _RATE_MILLICENTS_PER_TENTH[period] + 500) // 1000


def _churn_probability(
    day: np.ndarray, eve: np.ndarray, intl: np.ndarray, intl_calls: np.ndarray,
    service_calls: np.ndarray, intl_plan: np.ndarray, vmail_plan: np.ndarray,
) -> np.ndarray:  # fmt: skip
    """Relative churn propensity per customer; rescaled later to the target rate.

    Minutes arrive in tenths: heavy use is over 260 day minutes, or over 225 with over 260 evening minutes (no
    voice-mail plan); unhappy customers call customer service 4+ times with under 200 day minutes; international
    plan holders leave when they talk over 13 minutes or make fewer than 3 international calls.
    """
    heavy = ((day > 2600) | ((day > 2250) & (eve > 2600))) & ~vmail_plan
    p_usage = np.where(heavy, 0.92, 0.0)
    unhappy = (service_calls >= 4) & (day < 2000)
    p_service = np.where(unhappy, 0.82, np.where(service_calls >= 4, 0.06, 0.0))
    awkward = intl_plan & ((intl > 130) | (intl_calls < 3))
    p_intl = np.where(awkward, 0.92, np.where(intl_plan, 0.05, 0.0))
    base = 0.017
    return 1.0 - (1.0 - base) * (1.0 - p_usage) * (1.0 - p_service) * (1.0 - p_intl)


def _fixed_rate_labels(rng: np.random.Generator, p: np.ndarray, rate: float) -> np.ndarray:
    """Draw labels whose odds follow ``p`` with exactly ``round(rate * n)`` positives.

    Equivalent to Bernoulli draws with every probability scaled by one common factor, the factor chosen so the
    positive count is exact: a customer churns when ``u / p`` is among the smallest ``k`` values (u uniform).
    """
    n = len(p)
    k = int(round(rate * n))
    if k == 0:
        return np.zeros(n, dtype=bool)
    ratio = rng.random(n) / p
    cut = np.partition(ratio, k - 1)[k - 1]
    labels = ratio <= cut
    if labels.sum() > k:  # ties at the cut (practically never): keep the first k
        labels &= np.cumsum(labels) <= k
    return labels


def generate(rows: int = DEFAULT_ROWS, seed: int = DEFAULT_SEED) -> pd.DataFrame:
    """Return ``rows`` synthetic customers in the raw churn schema (same seed, same frame)."""
    if rows < 1:
        raise ParamsError(f"rows must be at least 1, got {rows}; pass --rows with a positive count")
    rng = np.random.default_rng(seed)
    n = rows
    state = rng.integers(0, len(STATES), n)
    if n >= len(STATES):  # every state (and DC) appears at least once
        state[rng.choice(n, len(STATES), replace=False)] = np.arange(len(STATES))
    account_length = _normal_int(rng, n, 101, 40, 1, 243)
    area_code = np.asarray(AREA_CODES)[rng.choice(3, n, p=[0.25, 0.5, 0.25])]
    phone_prefix = rng.integers(327, 423, n)
    phone_suffix = rng.integers(1000, 10000, n)
    intl_plan = rng.random(n) < 0.097
    vmail_plan = rng.random(n) < 0.277
    vmail_messages = np.where(vmail_plan, _normal_int(rng, n, 29.3, 7.6, 4, 51), 0)
    day = _tenths(rng, n, 179.8, 54.5, 0.0, 350.8)
    day_calls = _normal_int(rng, n, 100.4, 20.1, 0, 165)
    eve = _tenths(rng, n, 201.0, 50.7, 0.0, 363.7)
    eve_calls = _normal_int(rng, n, 100.1, 19.9, 0, 170)
    night = _tenths(rng, n, 200.9, 50.6, 23.2, 395.0)
    night_calls = _normal_int(rng, n, 100.1, 19.6, 33, 175)
    intl = _tenths(rng, n, 10.2, 2.8, 0.0, 20.0)
    intl_calls = np.minimum(rng.poisson(4.5, n), 20)
    service_calls = np.minimum(rng.poisson(1.56, n), 9)
    p = _churn_probability(day, eve, intl, intl_calls, service_calls, intl_plan, vmail_plan)
    churn = _fixed_rate_labels(rng, p, CHURN_RATE)

    yes_no = np.array(["no", "yes"], dtype=object)
    data: dict[str, np.ndarray] = {
        "State": np.asarray(STATES, dtype=object)[state],
        "Account Length": account_length,
        "Area Code": area_code,
        "Phone": _phone_strings(phone_prefix, phone_suffix),
        "Int'l Plan": yes_no[intl_plan.astype(np.int64)],
        "VMail Plan": yes_no[vmail_plan.astype(np.int64)],
        "VMail Message": vmail_messages,
    }
    for period, tenths, calls in (
        ("Day", day, day_calls), ("Eve", eve, eve_calls), ("Night", night, night_calls), ("Intl", intl, intl_calls),
    ):  # fmt: skip
        data[f"{period} Mins"] = tenths / 10.0
        data[f"{period} Calls"] = calls
        data[f"{period} Charge"] = _charge_cents(tenths, period) / 100.0
    data["CustServ Calls"] = service_calls
    data[LABEL] = np.array(["False.", "True."], dtype=object)[churn.astype(np.int64)]
    return pd.DataFrame({c: data[c] for c in COLUMNS})


def _phone_strings(prefix: np.ndarray, suffix: np.ndarray) -> np.ndarray:
    heads = np.array([f"{i:03d}-" for i in range(1000)], dtype=object)
    tails = np.array([f"{i:04d}" for i in range(10000)], dtype=object)
    return heads[prefix] + tails[suffix]


def _format_column(values: pd.Series, decimals: int | None) -> list[str]:
    """Column values as CSV text: fixed decimals for floats, plain digits for integers, strings as they are."""
    arr = values.to_numpy()
    if decimals is None and arr.dtype.kind in "iu":
        scaled, decimals = arr.astype(np.int64), 0
    elif decimals is not None:
        scaled = np.rint(arr.astype(np.float64) * 10**decimals).astype(np.int64)
    else:
        return [str(v) for v in arr.tolist()]
    if len(scaled) == 0:
        return []
    lo, hi = int(scaled.min()), int(scaled.max())
    if lo < 0 or hi - lo > 2_000_000:  # outside the lookup's comfort zone: format one by one
        return [f"{v / 10**decimals:.{decimals}f}" for v in scaled.tolist()]
    table = np.array([f"{v / 10**decimals:.{decimals}f}" for v in range(lo, hi + 1)], dtype=object)
    return table[scaled - lo].tolist()


def write_csv(df: pd.DataFrame, path: str | os.PathLike[str], chunk_rows: int = _CHUNK_ROWS) -> Path:
    """Write ``df`` as header CSV with fixed float formatting, streaming ``chunk_rows`` rows at a time."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    decimals = {c: DECIMALS.get(c) for c in df.columns}
    tmp = out.with_name(out.name + ".tmp")
    with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(",".join(df.columns) + "\n")
        for start in range(0, len(df), chunk_rows):
            part = df.iloc[start : start + chunk_rows]
            cols = [_format_column(part[c], decimals[c]) for c in df.columns]
            fh.write("\n".join(map(",".join, zip(*cols, strict=True))))
            fh.write("\n")
    tmp.replace(out)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: generate the data set and write it as CSV."""
    parser = argparse.ArgumentParser(prog="python -m retrain.data", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS, help="customers to generate (default 3333)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed (default 42)")
    parser.add_argument("--out", default=DEFAULT_OUT, help=f"CSV file to write (default {DEFAULT_OUT})")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    started = time.perf_counter()
    try:
        df = generate(args.rows, args.seed)
    except ParamsError as exc:
        parser.error(str(exc))
    generated = time.perf_counter()
    out = write_csv(df, args.out)
    done = time.perf_counter()
    churners = int((df[LABEL] == "True.").sum())
    LOG.info(
        "wrote %s: %d rows, %d churners (%.1f %%), seed %d; generated in %.2f s, written in %.2f s",
        out, len(df), churners, 100.0 * churners / len(df), args.seed, generated - started, done - generated,
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
