"""The held-out simulator (scripts/heldout_world.py): its truth reconciles
with its log, and its per-purchase oracle splits each purchase exactly."""

import collections
import csv
import importlib.util
import math
import subprocess
import sys

from conftest import ROOT

SCRIPT = ROOT / "scripts" / "heldout_world.py"


def load():
    spec = importlib.util.spec_from_file_location("heldout_world", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_truth_adds_up_to_the_purchases_of_the_log(tmp_path):
    subprocess.run([sys.executable, str(SCRIPT), str(tmp_path), "--users", "300", "--world", "awareness"],
                   check=True, capture_output=True)
    rows = {row["channel"]: row for row in csv.DictReader(open(tmp_path / "truth.csv"))}
    total, baseline = float(rows.pop("total")["conversions"]), float(rows.pop("baseline")["conversions"])
    with open(tmp_path / "events.csv") as handle:
        purchases = sum(1 for row in csv.DictReader(handle) if row["event_type"] == "conversion")
    assert purchases == total > baseline
    # Efficiency of the Shapley values of the causal game.
    assert math.isclose(sum(float(row["conversions"]) for row in rows.values()), total - baseline, abs_tol=1e-6)


def test_a_world_with_nothing_carried_over_is_another_log(tmp_path):
    runs = []
    for name, extra in [("carried", []), ("afresh", ["--set", "carry=0"])]:
        subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / name), "--users", "300", "--world", "mixed",
                        *extra], check=True, capture_output=True)
        runs.append((tmp_path / name / "events.csv").read_bytes())
    assert runs[0] != runs[1]
    refused = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "x"), "--set", "weight=2"],
                             capture_output=True, text=True)
    assert refused.returncode != 0 and "not a number of the world" in refused.stderr


def test_the_oracle_splits_a_purchase_by_the_shapley_values_of_the_chance():
    world = load()
    params = world.WORLDS["mixed"]
    # A decision opened by a newsletter click, nothing else in stock: the
    # decision does not happen without the click, so the purchase is all
    # the newsletter's.
    stock = {name: 0.0 for name in world.NAMES}
    credit = collections.Counter()
    world.oracle_credit(params, 1.0, params["closing"], stock, "newsletter", credit)
    assert credit == {"newsletter": 1.0, "baseline": 0.0}

    # An organic decision with two stocks: v(∅) = p0, v(a), v(b), v(ab) by
    # hand; shares are φ / v(ab), and with the baseline they add up to one.
    stock.update({"ctv": 1.0, "newsletter": 0.5})
    credit = collections.Counter()
    world.oracle_credit(params, 1.0, 0.0, stock, None, credit)
    chance = world.chance
    v0 = chance(params, 1.0, 0.0, stock, set())
    va, vb = chance(params, 1.0, 0.0, stock, {"ctv"}), chance(params, 1.0, 0.0, stock, {"newsletter"})
    vab = chance(params, 1.0, 0.0, stock, {"ctv", "newsletter"})
    assert math.isclose(credit["ctv"], (0.5 * (va - v0) + 0.5 * (vab - vb)) / vab)
    assert math.isclose(credit["newsletter"], (0.5 * (vb - v0) + 0.5 * (vab - va)) / vab)
    assert math.isclose(credit["baseline"], v0 / vab)
    assert math.isclose(sum(credit.values()), 1.0)
