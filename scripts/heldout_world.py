#!/usr/bin/env python3
"""A second, independent simulator of marketing journeys, with its ground truth.

touchpath's own generator (`touchpath generate --scenario`) builds purchase
intent in continuous time. This one works differently on purpose, so that a
model that only works because it mirrors `touchpath generate` fails here:

- purchases are *decisions*, taken at discrete moments: after each tracked
  touch, and at untracked organic moments (a Poisson process the log never
  shows); a touch that does not happen takes its decision moment with it;
- the chance of buying at a decision is a logistic function of saturating
  channel "stocks" (adstock with a per-channel decay, 1 - exp(-stock)),
  pairwise synergies between stocks, and a bonus when the decision follows a
  click or visit;
- users differ: each has a propensity that multiplies both how often they
  are reached and their odds of buying (confounding no log shows);
- after a purchase, half of each stock carries over to the next journey.

`--set KEY=VALUE` changes one number of a world (`carry=0`: stocks start
afresh after a purchase; `propensity_shape=1e4`: users alike), to see which
mechanism a model misses; `--oracle` also prints what crediting each
purchase by the Shapley values of the world's own chance of buying would
give.

The channels, kinds and time spans are its own. Every random draw of a user
is made before any replay, so replaying the same user with only some
channels on (common random numbers) gives v(S) exactly; the script writes
`events.csv` (touchpath's log format) and `truth.csv` (per channel, the
Shapley value and removal effect of the causal game), which
`touchpath evaluate --events events.csv --truth truth.csv` scores models
against.

Usage: scripts/heldout_world.py OUT_DIR [--users N] [--seed S] [--world NAME] [--set KEY=VALUE] [--oracle]
Worlds: `mixed` (the default), `closing` (decisions mostly right after
clicks), `awareness` (slow-building stocks from impressions dominate).
"""

import argparse
import collections
import csv
import math
import os
import random
from datetime import datetime, timedelta, timezone
from itertools import combinations

DAY = 86_400.0
SPAN = 90 * DAY
START = datetime(2025, 9, 1, tzinfo=timezone.utc)

# name: (schedule weight, kind weights impression/click/visit)
CHANNELS = {
    "ctv": (10, (0.95, 0.05, 0.0)),
    "social_ads": (20, (0.7, 0.3, 0.0)),
    "influencer": (8, (0.5, 0.3, 0.2)),
    "search_generic": (12, (0.1, 0.9, 0.0)),
    "search_brand": (10, (0.05, 0.95, 0.0)),
    "newsletter": (12, (0.5, 0.5, 0.0)),
    "display_retarget": (14, (0.9, 0.1, 0.0)),
    "direct_visit": (8, (0.0, 0.0, 1.0)),
}
NAMES = list(CHANNELS)

WORLDS = {
    # weight: stock's effect on the log-odds; decay: days for a stock to
    # fall by 1/e; kind: stock added by an impression / click / visit.
    "mixed": {
        "alpha": -6.2,
        "closing": 1.6,
        "organic_per_day": 0.35,
        "weight": {"ctv": 1.6, "social_ads": 1.1, "influencer": 1.4, "search_generic": 1.2,
                   "search_brand": 0.5, "newsletter": 1.3, "display_retarget": 0.5, "direct_visit": 0.2},
        "decay": {"ctv": 20, "social_ads": 8, "influencer": 12, "search_generic": 4,
                  "search_brand": 2, "newsletter": 6, "display_retarget": 5, "direct_visit": 1},
        "kind": (0.7, 1.0, 1.0),
        "synergy": {("ctv", "search_generic"): 1.0, ("social_ads", "newsletter"): 0.8},
        "propensity_shape": 4.0,
        "carry": 0.5,
    },
    "closing": {
        "alpha": -6.0,
        "closing": 3.0,
        "organic_per_day": 0.2,
        "weight": {"ctv": 0.5, "social_ads": 0.6, "influencer": 0.8, "search_generic": 1.8,
                   "search_brand": 1.6, "newsletter": 1.5, "display_retarget": 0.7, "direct_visit": 1.2},
        "decay": {name: 1.0 for name in NAMES},
        "kind": (0.4, 1.0, 1.0),
        "synergy": {},
        "propensity_shape": 6.0,
        "carry": 0.5,
    },
    "awareness": {
        "alpha": -6.0,
        "closing": 0.8,
        "organic_per_day": 0.4,
        "weight": {"ctv": 2.2, "social_ads": 1.6, "influencer": 1.5, "search_generic": 0.4,
                   "search_brand": 0.2, "newsletter": 0.5, "display_retarget": 1.0, "direct_visit": 0.1},
        "decay": {"ctv": 30, "social_ads": 20, "influencer": 25, "search_generic": 3,
                  "search_brand": 2, "newsletter": 5, "display_retarget": 15, "direct_visit": 1},
        "kind": (1.0, 0.6, 0.6),
        "synergy": {("ctv", "social_ads"): 0.6},
        "propensity_shape": 4.0,
        "carry": 0.5,
    },
}


def draw_user(rng, world):
    """Every random draw of one user: the touch schedule, the organic
    decision moments, one uniform per decision and per purchase."""
    propensity = rng.gammavariate(world["propensity_shape"], 1.0 / world["propensity_shape"])
    arrival = rng.uniform(0, SPAN - 5 * DAY)
    touches = []
    t = arrival
    rate = 0.6 * propensity  # touches a day
    channel = rng.choices(NAMES, weights=[CHANNELS[n][0] for n in NAMES])[0]
    while True:
        kind = rng.choices(range(3), weights=CHANNELS[channel][1])[0]
        touches.append((t, channel, kind, rng.random(), rng.random()))
        if rng.random() < 0.12:  # drifts away
            break
        t += rng.expovariate(rate) * DAY + 60
        if t >= SPAN:
            break
        stay = 0.35
        channel = channel if rng.random() < stay else rng.choices(NAMES, weights=[CHANNELS[n][0] for n in NAMES])[0]
    organic = []
    t = arrival
    while True:
        t += rng.expovariate(world["organic_per_day"]) * DAY
        if t >= SPAN:
            break
        organic.append((t, rng.random(), rng.random()))
    revenues = [round(max(1.0, rng.lognormvariate(math.log(48), 0.6)), 2) for _ in range(20)]
    return propensity, touches, organic, revenues


def chance(world, propensity, bonus, stock, kept):
    """The chance of buying at a decision, with only the stocks of the
    channels in `kept`."""
    level = {name: 1.0 - math.exp(-stock[name]) if name in kept else 0.0 for name in NAMES}
    score = world["alpha"] + math.log(propensity) + bonus
    score += sum(world["weight"][name] * level[name] for name in NAMES)
    score += sum(value * level[a] * level[b] for (a, b), value in world["synergy"].items())
    return 1.0 / (1.0 + math.exp(-score))


def oracle_credit(world, propensity, bonus, stock, opener, credit):
    """Adds to `credit` one purchase's shares by the Shapley value of each
    channel in the world's own chance of buying at that decision (a decision
    opened by a touch does not happen without its channel), and the rest to
    "baseline": what crediting each purchase by the Shapley values of a
    perfectly fitted rate would give (not the truth, a game over each
    user's whole history)."""
    players = sorted({name for name in NAMES if stock[name] > 0.0} | ({opener} if opener else set()))
    values = {}
    for size in range(len(players) + 1):
        for subset in combinations(players, size):
            kept = frozenset(subset)
            values[kept] = 0.0 if opener and opener not in kept else chance(world, propensity, bonus, stock, kept)
    full = values[frozenset(players)]
    for name, value in shapley(values, players).items():
        credit[name] += value / full
    credit["baseline"] += values[frozenset()] / full


def play(world, user, active, log=None, user_id=None, oracle=None):
    """Replays one user with only the channels in `active`; returns
    (purchases, revenue) and appends the log's rows when `log` is given (and
    each purchase's oracle credit to `oracle`, when given)."""
    propensity, touches, organic, revenues = user
    moments = [(t, "touch", (c, k), u, checkout) for (t, c, k, u, checkout) in touches if c in active]
    moments += [(t, "organic", None, u, checkout) for (t, u, checkout) in organic]
    moments.sort(key=lambda moment: moment[0])
    stock = {name: 0.0 for name in NAMES}
    last_time = moments[0][0] if moments else 0.0
    purchases, revenue, busy_until = 0, 0.0, -1.0
    for t, what, touch, u, checkout in moments:
        for name in NAMES:
            stock[name] *= math.exp(-(t - last_time) / (world["decay"][name] * DAY))
        last_time = t
        bonus = 0.0
        if what == "touch":
            channel, kind = touch
            stock[channel] += world["kind"][kind]
            if log is not None:
                log.append((t, user_id, channel, ("impression", "click", "visit")[kind], ""))
            bonus = world["closing"] if kind > 0 else 0.0
        if t < busy_until:
            continue
        if u < chance(world, propensity, bonus, stock, NAMES):
            if oracle is not None:
                oracle_credit(world, propensity, bonus, stock, touch[0] if what == "touch" else None, oracle)
            when = t + 120 + checkout * 1800
            if when >= SPAN:
                break
            amount = revenues[min(purchases, len(revenues) - 1)]
            purchases += 1
            revenue += amount
            if log is not None:
                log.append((when, user_id, "", "conversion", f"{amount:.2f}"))
            for name in NAMES:  # part of each stock carries over
                stock[name] *= world["carry"]
            busy_until = when + DAY
    return purchases, revenue


def shapley(values, players):
    """Exact Shapley values of a game given as {frozenset: value}."""
    n = len(players)
    result = {}
    for player in players:
        others = [p for p in players if p != player]
        total = 0.0
        for size in range(len(others) + 1):
            weight = math.factorial(size) * math.factorial(n - size - 1) / math.factorial(n)
            for subset in combinations(others, size):
                s = frozenset(subset)
                total += weight * (values[s | {player}] - values[s])
        result[player] = total
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out")
    parser.add_argument("--users", type=int, default=40_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--world", choices=sorted(WORLDS), default="mixed")
    parser.add_argument("--oracle", action="store_true",
                        help="also print the shares of the per-purchase oracle (see oracle_credit)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="change one number of the world (alpha, closing, organic_per_day, "
                             "propensity_shape, carry), or synergy=none")
    args = parser.parse_args()
    world = dict(WORLDS[args.world])
    for setting in args.set:
        key, _, value = setting.partition("=")
        if key == "synergy" and value == "none":
            world["synergy"] = {}
        elif key in ("alpha", "closing", "organic_per_day", "propensity_shape", "carry"):
            world[key] = float(value)
        else:
            parser.error(f"--set {setting}: not a number of the world")
    os.makedirs(args.out, exist_ok=True)
    rows = []
    phi = {name: [0.0, 0.0] for name in NAMES}
    removal = {name: [0, 0.0] for name in NAMES}
    baseline, total = [0, 0.0], [0, 0.0]
    oracle = collections.Counter() if args.oracle else None
    for index in range(args.users):
        rng = random.Random(args.seed * 1_000_003 + index)
        user = draw_user(rng, world)
        user_id = f"c{index:07d}"
        players = sorted({touch[1] for touch in user[1]})
        values = {}
        for size in range(len(players) + 1):
            for subset in combinations(players, size):
                values[frozenset(subset)] = play(world, user, set(subset))
        full = frozenset(players)
        factual = play(world, user, full, rows, user_id, oracle)
        assert factual == values[full]
        for k in range(2):
            baseline[k] += values[frozenset()][k]
            total[k] += values[full][k]
        for k in range(2):
            for name, value in shapley({s: v[k] for s, v in values.items()}, players).items():
                phi[name][k] += value
        for name in players:
            removal[name][0] += values[full][0] - values[full - {name}][0]
            removal[name][1] += values[full][1] - values[full - {name}][1]
    rows.sort()
    with open(os.path.join(args.out, "events.csv"), "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["user_id", "timestamp", "channel", "event_type", "revenue"])
        for t, user_id, channel, kind, revenue in rows:
            stamp = (START + timedelta(seconds=int(t))).strftime("%Y-%m-%dT%H:%M:%SZ")
            writer.writerow([user_id, stamp, channel, kind, revenue])
    share_c = sum(v[0] for v in phi.values())
    share_r = sum(v[1] for v in phi.values())
    with open(os.path.join(args.out, "truth.csv"), "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["channel", "conversions", "revenue", "share_of_conversions", "share_of_revenue",
                         "removal_conversions", "removal_revenue"])
        for name in sorted(NAMES):
            c, r = phi[name]
            writer.writerow([name, f"{c:.6f}", f"{r:.2f}", f"{c / share_c:.6f}", f"{r / share_r:.6f}",
                             removal[name][0], f"{removal[name][1]:.2f}"])
        writer.writerow(["baseline", baseline[0], f"{baseline[1]:.2f}", "", "", "", ""])
        writer.writerow(["total", total[0], f"{total[1]:.2f}", "", "", "", ""])
    if oracle is not None:
        marketing = sum(value for name, value in oracle.items() if name != "baseline")
        errors = [abs(oracle[name] / marketing - phi[name][0] / share_c) for name in NAMES]
        print("per-purchase oracle, shares of conversions (%): channel, oracle, truth")
        for name in sorted(NAMES):
            print(f"  {name:18s} {100 * oracle[name] / marketing:6.2f} {100 * phi[name][0] / share_c:6.2f}")
        print(f"  baseline {oracle['baseline']:.0f} (truth {baseline[0]}); "
              f"mean absolute error {100 * sum(errors) / len(errors):.2f} points")
    print(f"{args.world}: {len(rows)} rows, {total[0]} purchases, {baseline[0]} without marketing -> {args.out}")


if __name__ == "__main__":
    main()
