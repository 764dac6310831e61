"""The matcher's tick: speed at 10,000 and 100,000 queued, quality at 2,000.

A seeded synthetic queue (about 30 world cities weighted by size with a few km of
scatter, ages 18-70 skewed young, mostly one gender sought, 1-3 languages with a regional
bias, interests with a popularity skew, waits of 0-600 s).

In memory, for each size: building the `QueueSnapshot` from columns shaped as the tick
loads them (one list per attribute, list-valued ones flattened), then planning (medians
of several runs after a warm-up), pairs made and the share of members matched. Quality:
the planner's total score against `exhaustive_greedy` (every pair scored, taken best
first) on the same queue; the planner's answer is also checked pair by pair against the
reference rules. The cap effect: the default window against a very wide one.

With the database (an embedded PostgreSQL of its own, the queuing migrations applied):
the same people copied in, then `matchmaking.tick()` timed by phase (load the queue,
build the snapshot, plan, persist the matches and their events) at each size, the queue
refilled before every tick (a tick takes the matched out of it).

    python -m bench.matcher [--sizes 10000 100000] [--quality-size 2000] [--runs 7]
                            [--tick-runs 2] [--no-database]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import statistics
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy.exc import DBAPIError

from bench.support import REPO_ROOT, print_table, private_stack, progress, save_results
from kindred.db import Database
from kindred.devstack.postgres import create_databases, database_url
from kindred.migrations import upgrade
from subgraphs.queuing import matching, matchmaking
from subgraphs.queuing.saga import RetryPolicy

NAME = "matcher"
SEED = 20260615
DATABASE = "queuing_bench"
MIGRATIONS = REPO_ROOT / "subgraphs" / "queuing" / "migrations"
POLICY = RetryPolicy(step_timeout_seconds=10, max_attempts=3)

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
    "Music",
    "Travel",
    "Movies",
    "Hiking",
    "Cooking",
    "Reading",
    "Photography",
    "Fitness",
    "Coffee",
    "Dogs",
    "Cats",
    "Yoga",
    "Running",
    "Art",
    "Dancing",
    "Gaming",
    "Wine",
    "Football",
    "Basketball",
    "Tennis",
    "Cycling",
    "Swimming",
    "Climbing",
    "Surfing",
    "Skiing",
    "Camping",
    "Gardening",
    "Baking",
    "Vegan food",
    "Street food",
    "Jazz",
    "Hip hop",
    "Rock",
    "Classical music",
    "Theatre",
    "Museums",
    "Poetry",
    "Writing",
    "Podcasts",
    "Anime",
    "Board games",
    "Chess",
    "Volunteering",
    "Politics",
    "History",
    "Science",
    "Astronomy",
    "Technology",
    "Startups",
    "Fashion",
    "Tattoos",
    "Meditation",
    "Karaoke",
    "Festivals",
    "Nightlife",
    "Beach",
    "Road trips",
    "Languages",
    "Sailing",
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


def columns(seekers: Sequence[matching.Seeker]) -> dict[str, Any]:
    """The members as `QueueSnapshot.from_columns` takes them (and the tick loads them)."""
    transposed = map(list, zip(*seekers, strict=True))
    fields: dict[str, Any] = dict(zip(matching.Seeker._fields, transposed, strict=True))
    for name in ("interests", "languages", "genders_sought"):
        fields[name] = matching.Ragged.of(fields[name])
    fields["user_ids"] = fields.pop("user_id")
    return fields


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def measure_speed(size: int, runs: int) -> dict[str, Any]:
    """Snapshot build and plan times (medians after a warm-up), pairs and matched share."""
    progress(f"{size:,} members: generating")
    loaded = columns(population(size))
    builds, plans = [], []
    pairings: list[matching.Pairing] = []
    for run in range(runs + 1):
        started = time.perf_counter()
        snapshot = matching.QueueSnapshot.from_columns(**loaded)
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


PROFILE_COLUMNS = (
    "user_id",
    "birthdate",
    "gender",
    "latitude",
    "longitude",
    "interests",
    "languages",
    "min_age",
    "max_age",
    "genders_sought",
    "max_distance_km",
    "deleted",
    "synced_version",
    "synced_at",
)


def _birthdate(age: int, today: date, rng: random.Random) -> date:
    """A birthdate on which someone is `age` years old today."""
    last_birthday = date(today.year - age, today.month, min(today.day, 28))
    return last_birthday - timedelta(days=rng.randrange(365))


def _copy_profiles(url: str, seekers: Sequence[matching.Seeker], now: datetime) -> None:
    """The members' profile copies, bulk-loaded."""
    rng = random.Random(SEED)
    statement = f"COPY profile_copies ({', '.join(PROFILE_COLUMNS)}) FROM STDIN"
    with psycopg.connect(url) as conn, conn.cursor() as cursor, cursor.copy(statement) as copy:
        for seeker in seekers:
            copy.write_row(
                (
                    seeker.user_id,
                    _birthdate(seeker.age, now.date(), rng),
                    seeker.gender,
                    seeker.latitude,
                    seeker.longitude,
                    list(seeker.interests),
                    list(seeker.languages),
                    seeker.min_age,
                    seeker.max_age,
                    list(seeker.genders_sought),
                    int(seeker.max_distance_km),
                    False,
                    1,
                    now,
                )
            )


def _refill_queue(url: str, seekers: Sequence[matching.Seeker], now: datetime) -> None:
    """Exactly these members in the queue, with their waits, and no matches yet."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE queue_entries, matches, match_participants, outbox")
        with conn.cursor().copy("COPY queue_entries (user_id, joined_at) FROM STDIN") as copy:
            for seeker in seekers:
                copy.write_row((seeker.user_id, now - timedelta(seconds=seeker.waited_seconds)))
        conn.execute("ANALYZE queue_entries")


@contextmanager
def _phase_clock() -> Iterator[dict[str, float]]:
    """When the tick's snapshot build and plan start and end (perf_counter seconds)."""
    marks: dict[str, float] = {}

    def timed(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            marks[f"{name}_started"] = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                marks[f"{name}_ended"] = time.perf_counter()

        return run

    hooks = [(matchmaking, "_snapshot", "build"), (matching, "plan_matches", "plan")]
    originals = [getattr(module, attribute) for module, attribute, _ in hooks]
    for (module, attribute, name), original in zip(hooks, originals, strict=True):
        setattr(module, attribute, timed(name, original))
    try:
        yield marks
    finally:
        for (module, attribute, _), original in zip(hooks, originals, strict=True):
            setattr(module, attribute, original)


async def _timed_tick(db: Database) -> dict[str, Any]:
    """One `matchmaking.tick()`, its phases in ms (persist None if it failed, and why)."""
    failure = None
    with _phase_clock() as marks:
        started = time.perf_counter()
        try:
            report = await matchmaking.tick(db, POLICY)
        except DBAPIError as error:  # reported, so the figures before it still count
            failure = str(error.orig).splitlines()[0]
        ended = time.perf_counter()
    persisted = failure is None
    assert not persisted or report.ran, "nobody else ticks this database"
    return {
        "load_ms": (marks["build_started"] - started) * 1000,
        "build_ms": (marks["build_ended"] - marks["build_started"]) * 1000,
        "plan_ms": (marks["plan_ended"] - marks["plan_started"]) * 1000,
        "persist_ms": (ended - marks["plan_ended"]) * 1000 if persisted else None,
        "total_ms": (ended - started) * 1000 if persisted else None,
        "matches": report.matches if persisted else None,
        "failure": failure,
    }


def _median(values: Sequence[float | None]) -> float | None:
    known = [value for value in values if value is not None]
    return round(statistics.median(known), 1) if known else None


async def _ticks(
    url: str, seekers: Sequence[matching.Seeker], sizes: Sequence[int], runs: int
) -> list[dict[str, Any]]:
    db = Database(url, pool_size=2)
    try:
        _refill_queue(url, seekers[: min(sizes)], datetime.now(UTC))
        await _timed_tick(db)  # warms the pool and PostgreSQL's caches
        figures = []
        for size in sizes:
            measured = []
            for run in range(1, runs + 1):
                progress(f"{size:,} queued: tick {run} of {runs}")
                _refill_queue(url, seekers[:size], datetime.now(UTC))
                measured.append(await _timed_tick(db))
            figures.append(
                {
                    "members": size,
                    **{
                        phase: _median([tick[phase] for tick in measured])
                        for phase in ("load_ms", "build_ms", "plan_ms", "persist_ms", "total_ms")
                    },
                    "matches": measured[-1]["matches"],
                    "failure": measured[-1]["failure"],
                    "runs": measured,
                }
            )
        return figures
    finally:
        await db.dispose()


def measure_ticks(
    seekers: Sequence[matching.Seeker], sizes: Sequence[int], runs: int
) -> list[dict[str, Any]]:
    """The full tick against a real PostgreSQL, by phase, at each size (medians)."""
    with private_stack(NAME, subgraphs=False) as stack:
        create_databases(stack.postgres_url, [DATABASE])
        url = database_url(stack.postgres_url, DATABASE)
        upgrade(url, Path(MIGRATIONS))
        progress(f"copying {len(seekers):,} profiles in")
        _copy_profiles(url, seekers, datetime.now(UTC))
        return asyncio.run(_ticks(url, seekers, sizes, runs))


def report(results: dict[str, Any]) -> None:
    print_table(
        "Planning one tick (median of the measured runs)",
        ["members", "build ms", "plan ms", "build+plan ms", "pairs", "matched"],
        [
            [
                r["members"],
                r["build_ms"],
                r["plan_ms"],
                r["tick_ms"],
                r["pairs"],
                f"{100 * r['matched_share']:.1f} %",
            ]
            for r in results["speed"]
        ],
    )
    quality = results["quality"]
    print_table(
        "Quality against the exhaustive greedy",
        [
            "members",
            "planner score",
            "exhaustive score",
            "share",
            "planner pairs",
            "exhaustive pairs",
            "rejected by reference",
        ],
        [
            [
                quality["members"],
                quality["planner_total_score"],
                quality["exhaustive_total_score"],
                f"{100 * quality['share']:.1f} %",
                quality["planner_pairs"],
                quality["exhaustive_pairs"],
                quality["planner_pairs_rejected_by_reference"],
            ]
        ],
    )
    if results.get("ticks"):
        print_table(
            "The full tick with PostgreSQL (median of the measured ticks)",
            ["queued", "load ms", "build ms", "plan ms", "persist ms", "total ms", "matches"],
            [
                [
                    r["members"],
                    r["load_ms"],
                    r["build_ms"],
                    r["plan_ms"],
                    "failed" if r["failure"] else r["persist_ms"],
                    "-" if r["failure"] else r["total_ms"],
                    "-" if r["failure"] else r["matches"],
                ]
                for r in results["ticks"]
            ],
        )
        for r in results["ticks"]:
            if r["failure"]:
                print(f"{r['members']:,} queued: persisting failed: {r['failure']}\n")
    cap = results["cap"]
    print_table(
        f"What the candidate cap costs ({cap['members']:,} members)",
        ["window", "plan ms", "pairs", "total score", "share"],
        [
            [
                cap["default"]["window"],
                cap["default"]["plan_ms"],
                cap["default"]["pairs"],
                cap["default"]["total_score"],
                f"{100 * cap['share']:.1f} %",
            ],
            [
                cap["wide"]["window"],
                cap["wide"]["plan_ms"],
                cap["wide"]["pairs"],
                cap["wide"]["total_score"],
                "100.0 %",
            ],
        ],
    )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        prog="python -m bench.matcher",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        default=[10_000, 100_000],
        help="queue sizes timed (10000 100000)",
    )
    parser.add_argument(
        "--quality-size",
        type=int,
        default=2_000,
        help="queue size compared with the exhaustive greedy (2000)",
    )
    parser.add_argument(
        "--cap-size",
        type=int,
        default=10_000,
        help="queue size for the default-vs-wide window comparison (10000)",
    )
    parser.add_argument("--runs", type=int, default=7, help="measured runs per size (7)")
    parser.add_argument(
        "--tick-runs", type=int, default=2, help="measured ticks with the database per size (2)"
    )
    parser.add_argument(
        "--no-database", action="store_true", help="skip the full tick with PostgreSQL"
    )
    args = parser.parse_args(argv)
    results: dict[str, Any] = {
        "window": matching.DEFAULT_WINDOW,
        "speed": [measure_speed(size, args.runs) for size in args.sizes],
        "quality": measure_quality(args.quality_size),
        "cap": measure_cap(args.cap_size, wide_window=8 * matching.DEFAULT_WINDOW),
    }
    if not args.no_database:
        progress(f"{max(args.sizes):,} members: generating for the database")
        results["ticks"] = measure_ticks(population(max(args.sizes)), args.sizes, args.tick_runs)
    report(results)
    save_results(NAME, results)
    return results


if __name__ == "__main__":
    main()
