"""The matcher's plan for one tick: speed at 10,000 and 100,000 queued, quality at 2,000.

Pure in-process figures, no stack: a seeded synthetic queue (about 30 world cities
weighted by size with a few km of scatter, ages 18-70 skewed young, mostly one gender
sought, 1-3 languages with a regional bias, interests with a popularity skew, waits of
0-600 s). For each size: building the `QueueSnapshot` from the records, then planning
(median of several runs after a warm-up), pairs made and the share of members matched.
Quality: the planner's total score against `exhaustive_greedy` (every pair scored, taken
best first) on the same queue; the planner's answer is also checked pair by pair against
the reference rules. The cap effect: the default window against a very wide one.

    python -m bench.matcher [--sizes 10000 100000] [--quality-size 2000] [--runs 7]
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import time
import uuid
from collections.abc import Sequence
from typing import Any

from bench.support import print_table, progress, save_results
from subgraphs.queuing import matching

NAME = "matcher"
SEED = 20260615

# (name, latitude, longitude, metro population in millions, local languages)
CITIES = [
    ("Tokyo", 35.68, 139.69, 37.4, ("ja",)),
    ("Delhi", 28.70, 77.10, 31.0, ("hi", "en")),
    ("Shanghai", 31.23, 121.47, 27.1, ("zh",)),
    ("Sao Paulo", -23.55, -46.63, 22.0, ("pt-br",)),
    ("Mexico City", 19.43, -99.13, 21.8, ("es",)),
    ("Cairo", 30.04, 31.24, 21.3, ("ar",)),
    ("Mumbai", 19.08, 72.88, 20.7, ("hi", "mr", "en")),
    ("Beijing", 39.90, 116.41, 20.5, ("zh",)),
    ("Dhaka", 23.81, 90.41, 21.0, ("bn",)),
    ("Osaka", 34.69, 135.50, 19.2, ("ja",)),
    ("New York", 40.71, -74.01, 18.8, ("en", "es")),
    ("Karachi", 24.86, 67.01, 16.1, ("ur", "en")),
    ("Buenos Aires", -34.60, -58.38, 15.2, ("es",)),
    ("Istanbul", 41.01, 28.98, 15.2, ("tr",)),
    ("Kolkata", 22.57, 88.36, 14.9, ("bn", "hi")),
    ("Lagos", 6.52, 3.38, 14.4, ("en", "yo")),
    ("Manila", 14.60, 120.98, 13.9, ("tl", "en")),
    ("Rio de Janeiro", -22.91, -43.17, 13.5, ("pt-br",)),
    ("Los Angeles", 34.05, -118.24, 12.5, ("en", "es")),
    ("Moscow", 55.76, 37.62, 12.5, ("ru",)),
    ("Paris", 48.86, 2.35, 11.0, ("fr",)),
    ("Bangkok", 13.76, 100.50, 10.5, ("th",)),
    ("Jakarta", -6.21, 106.85, 10.8, ("id",)),
    ("Seoul", 37.57, 126.98, 9.9, ("ko",)),
    ("Lima", -12.05, -77.04, 10.7, ("es",)),
    ("London", 51.51, -0.13, 9.3, ("en",)),
    ("Bogota", 4.71, -74.07, 10.6, ("es",)),
    ("Madrid", 40.42, -3.70, 6.7, ("es",)),
    ("Toronto", 43.65, -79.38, 6.2, ("en", "fr")),
    ("Berlin", 52.52, 13.40, 3.6, ("de",)),
    ("Sydney", -33.87, 151.21, 5.3, ("en",)),
]
SECOND_LANGUAGES = ("en", "en", "en", "es", "fr", "de", "zh", "ar", "pt-br", "ru")
INTERESTS = [
    "Music", "Travel", "Movies", "Hiking", "Cooking", "Reading", "Photography", "Fitness",
    "Coffee", "Dogs", "Cats", "Yoga", "Running", "Art", "Dancing", "Gaming", "Wine",
    "Football", "Basketball", "Tennis", "Cycling", "Swimming", "Climbing", "Surfing",
    "Skiing", "Camping", "Gardening", "Baking", "Vegan food", "Street food", "Jazz",
    "Hip hop", "Rock", "Classical music", "Theatre", "Museums", "Poetry", "Writing",
    "Podcasts", "Anime", "Board games", "Chess", "Volunteering", "Politics", "History",
    "Science", "Astronomy", "Technology", "Startups", "Fashion", "Tattoos", "Meditation",
    "Karaoke", "Festivals", "Nightlife", "Beach", "Road trips", "Languages", "Sailing",
    "Martial arts",
]
# Zipf-like popularity: the n-th interest is chosen about 1/n as often as the first.
INTEREST_WEIGHTS = [1 / (rank + 1) ** 0.8 for rank in range(len(INTERESTS))]


def _genders_sought(rng: random.Random, gender: str) -> list[str]:
    """Mostly the other binary gender, some their own, a few two genders or anyone."""
    roll = rng.random()
    if gender in ("WOMAN", "MAN"):
        other = "MAN" if gender == "WOMAN" else "WOMAN"
        if roll < 0.84:
            return [other]
        if roll < 0.92:
            return [gender]
        if roll < 0.97:
            return sorted({"WOMAN", "MAN"})
        return []
    if roll < 0.35:
        return []
    return sorted(rng.sample(matching.GENDERS, rng.choice((1, 2, 2, 3))))


def _age(rng: random.Random) -> int:
    return min(70, 18 + int(rng.gammavariate(2.2, 5.5)))


def population(size: int, seed: int = SEED) -> list[matching.Seeker]:
    """A seeded synthetic queue of `size` located members."""
    rng = random.Random(seed)
    weights = [city[3] for city in CITIES]
    members = []
    for _name, lat, lon, millions, local in rng.choices(CITIES, weights, k=size):
        scatter_km = 2.0 + millions / 6  # bigger cities sprawl further
        north, east = rng.gauss(0, scatter_km), rng.gauss(0, scatter_km)
        latitude = lat + north / 111.2
        longitude = lon + east / (111.2 * max(0.2, math.cos(math.radians(lat))))
        gender = rng.choices(matching.GENDERS, (0.47, 0.47, 0.04, 0.02))[0]
        age = _age(rng)
        languages = [local[0] if rng.random() < 0.9 else rng.choice(local)]
        for _ in range(rng.choice((0, 1, 1, 2))):
            languages.append(rng.choice(local + SECOND_LANGUAGES))
        interests = set(rng.choices(INTERESTS, INTEREST_WEIGHTS, k=rng.randint(2, 8)))
        members.append(
            matching.Seeker(
                user_id=uuid.UUID(int=rng.getrandbits(128), version=4),
                age=age,
                gender=gender,
                latitude=latitude,
                longitude=longitude,
                interests=sorted(interests),
                languages=list(dict.fromkeys(languages)),
                min_age=max(18, age - rng.randint(2, 8)),
                max_age=age + rng.randint(2, 10),
                genders_sought=_genders_sought(rng, gender),
                max_distance_km=rng.choice((10, 15, 25, 25, 50, 50, 50, 75, 100, 100, 200)),
                waited_seconds=rng.uniform(0, 600),
            )
        )
    return members


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def measure_speed(size: int, runs: int) -> dict[str, Any]:
    """Snapshot build and plan times (medians after a warm-up), pairs and matched share."""
    progress(f"{size:,} members: generating")
    seekers = population(size)
    builds, plans = [], []
    pairings: list[matching.Pairing] = []
    for run in range(runs + 1):
        started = time.perf_counter()
        snapshot = matching.QueueSnapshot.from_seekers(seekers)
        built = _ms(started)
        started = time.perf_counter()
        pairings = matching.plan_matches(snapshot)
        planned = _ms(started)
        if run:  # the first run warms caches and is not counted
            builds.append(built)
            plans.append(planned)
    build_ms, plan_ms = statistics.median(builds), statistics.median(plans)
    return {
        "members": size,
        "build_ms": round(build_ms, 2),
        "plan_ms": round(plan_ms, 2),
        "tick_ms": round(build_ms + plan_ms, 2),
        "build_ms_runs": [round(value, 2) for value in builds],
        "plan_ms_runs": [round(value, 2) for value in plans],
        "pairs": len(pairings),
        "matched_share": round(2 * len(pairings) / size, 4),
        "total_score": round(sum(pairing.score for pairing in pairings), 3),
    }


def _check_against_reference(
    seekers: Sequence[matching.Seeker], pairings: Sequence[matching.Pairing]
) -> int:
    """How many planned pairs the reference rules reject (should be 0); raises on reuse."""
    by_id = {seeker.user_id: seeker for seeker in seekers}
    seen: set[uuid.UUID] = set()
    rejected = 0
    for pairing in pairings:
        a, b = (by_id[user_id] for user_id in pairing.user_ids)
        if seen & set(pairing.user_ids):
            raise RuntimeError(f"{pairing.user_ids} reuses a member")
        seen.update(pairing.user_ids)
        rejected += not matching.compatible(a, b)
    return rejected


def measure_quality(size: int) -> dict[str, Any]:
    """The planner's total score as a share of the exhaustive greedy's, on one queue."""
    seekers = population(size, seed=SEED + 1)
    snapshot = matching.QueueSnapshot.from_seekers(seekers)
    planned = matching.plan_matches(snapshot)
    progress(f"{size:,} members: exhaustive greedy over {size * (size - 1) // 2:,} pairs")
    started = time.perf_counter()
    reference = matching.exhaustive_greedy(seekers)
    exhaustive_ms = _ms(started)
    planned_total = sum(pairing.score for pairing in planned)
    reference_total = sum(pairing.score for pairing in reference)
    return {
        "members": size,
        "planner_pairs": len(planned),
        "exhaustive_pairs": len(reference),
        "planner_total_score": round(planned_total, 3),
        "exhaustive_total_score": round(reference_total, 3),
        "share": round(planned_total / reference_total, 4) if reference_total else None,
        "planner_pairs_rejected_by_reference": _check_against_reference(seekers, planned),
        "exhaustive_ms": round(exhaustive_ms, 1),
    }


def measure_cap(size: int, wide_window: int) -> dict[str, Any]:
    """The default window against a far wider one on the same queue: what the cap costs."""
    progress(f"{size:,} members: default window {matching.DEFAULT_WINDOW} vs {wide_window}")
    snapshot = matching.QueueSnapshot.from_seekers(population(size, seed=SEED + 2))
    figures: dict[str, Any] = {"members": size}
    for label, window in (("default", matching.DEFAULT_WINDOW), ("wide", wide_window)):
        started = time.perf_counter()
        pairings = matching.plan_matches(snapshot, window=window)
        figures[label] = {
            "window": window,
            "plan_ms": round(_ms(started), 1),
            "pairs": len(pairings),
            "total_score": round(sum(pairing.score for pairing in pairings), 3),
        }
    figures["share"] = round(figures["default"]["total_score"] / figures["wide"]["total_score"], 4)
    return figures


def report(results: dict[str, Any]) -> None:
    print_table(
        "Planning one tick (median of the measured runs)",
        ["members", "build ms", "plan ms", "build+plan ms", "pairs", "matched"],
        [
            [r["members"], r["build_ms"], r["plan_ms"], r["tick_ms"], r["pairs"],
             f"{100 * r['matched_share']:.1f} %"]
            for r in results["speed"]
        ],
    )
    quality = results["quality"]
    print_table(
        "Quality against the exhaustive greedy",
        ["members", "planner score", "exhaustive score", "share", "planner pairs",
         "exhaustive pairs", "rejected by reference"],
        [[quality["members"], quality["planner_total_score"], quality["exhaustive_total_score"],
          f"{100 * quality['share']:.1f} %", quality["planner_pairs"],
          quality["exhaustive_pairs"], quality["planner_pairs_rejected_by_reference"]]],
    )
    cap = results["cap"]
    print_table(
        f"What the candidate cap costs ({cap['members']:,} members)",
        ["window", "plan ms", "pairs", "total score", "share"],
        [
            [cap["default"]["window"], cap["default"]["plan_ms"], cap["default"]["pairs"],
             cap["default"]["total_score"], f"{100 * cap['share']:.1f} %"],
            [cap["wide"]["window"], cap["wide"]["plan_ms"], cap["wide"]["pairs"],
             cap["wide"]["total_score"], "100.0 %"],
        ],
    )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        prog="python -m bench.matcher", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000],
                        help="queue sizes timed (10000 100000)")
    parser.add_argument("--quality-size", type=int, default=2_000,
                        help="queue size compared with the exhaustive greedy (2000)")
    parser.add_argument("--cap-size", type=int, default=10_000,
                        help="queue size for the default-vs-wide window comparison (10000)")
    parser.add_argument("--runs", type=int, default=7, help="measured runs per size (7)")
    args = parser.parse_args(argv)
    results: dict[str, Any] = {
        "window": matching.DEFAULT_WINDOW,
        "speed": [measure_speed(size, args.runs) for size in args.sizes],
        "quality": measure_quality(args.quality_size),
        "cap": measure_cap(args.cap_size, wide_window=8 * matching.DEFAULT_WINDOW),
    }
    report(results)
    save_results(NAME, results)
    return results


if __name__ == "__main__":
    main()
