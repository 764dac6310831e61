"""The matcher's rules, one pair at a time and for a whole queue."""

from __future__ import annotations

import math
import random
import uuid
from collections.abc import Sequence
from typing import Any

import pytest

from subgraphs.queuing import matching
from subgraphs.queuing.matching import Seeker

LISBON = (38.7223, -9.1393)


def east_of(base: tuple[float, float], km: float) -> tuple[float, float]:
    """The point `km` due east of `base` (along its parallel; fine for a few km)."""
    lat, lon = base
    return lat, lon + km / (111.195 * math.cos(math.radians(lat)))


def member(gender: str = "WOMAN", *, km_east: float = 0.0, **overrides: Any) -> Seeker:
    """A located member in Lisbon, 30, seeking 25-35-year-olds of the other binary gender."""
    latitude, longitude = east_of(LISBON, km_east)
    fields: dict[str, Any] = {
        "user_id": uuid.uuid4(),
        "age": 30,
        "gender": gender,
        "latitude": latitude,
        "longitude": longitude,
        "interests": ["Hiking", "Jazz"],
        "languages": ["pt"],
        "min_age": 25,
        "max_age": 35,
        "genders_sought": ["MAN" if gender == "WOMAN" else "WOMAN"],
        "max_distance_km": 50,
        "waited_seconds": 60.0,
    }
    fields.update(overrides)
    return Seeker(**fields)


def plan(*seekers: Seeker, **options: Any) -> list[matching.Pairing]:
    return matching.plan_matches(matching.QueueSnapshot.from_seekers(seekers), **options)


def pairs(pairings: Sequence[matching.Pairing]) -> set[frozenset[uuid.UUID]]:
    return {frozenset(pairing.user_ids) for pairing in pairings}


def matched(a: Seeker, b: Seeker) -> bool:
    """Whether the reference and the planner both say that these two are a match."""
    reference = matching.compatible(a, b)
    assert reference == matching.compatible(b, a)
    planned = pairs(plan(a, b)) == {frozenset((a.user_id, b.user_id))}
    assert planned == reference, "the planner and the reference disagree"
    return reference


def test_a_pair_matches_only_when_each_fits_the_others_age_range() -> None:
    her = member("WOMAN", age=30, min_age=28, max_age=34)
    assert matched(her, member("MAN", age=32, min_age=27, max_age=33))
    # He fits her range, she is too old for his.
    assert not matched(her, member("MAN", age=32, min_age=20, max_age=29))
    # She fits his range, he is too young for hers.
    assert not matched(her, member("MAN", age=26, min_age=25, max_age=35))
    # The bounds are inclusive.
    assert matched(her, member("MAN", age=34, min_age=30, max_age=40))


def test_a_pair_matches_only_when_each_is_a_gender_the_other_seeks() -> None:
    her = member("WOMAN", genders_sought=["MAN", "NON_BINARY"])
    assert matched(her, member("NON_BINARY", genders_sought=["WOMAN"]))
    # She seeks non-binary people; this one seeks men only.
    assert not matched(her, member("NON_BINARY", genders_sought=["MAN"]))
    # This one seeks women, but she does not seek OTHER.
    assert not matched(her, member("OTHER", genders_sought=["WOMAN"]))
    assert not matched(member("WOMAN"), member("WOMAN"))


def test_an_empty_genders_sought_means_anyone() -> None:
    open_to_all = member("OTHER", genders_sought=[])
    for gender in matching.GENDERS:
        assert matched(open_to_all, member(gender, genders_sought=["OTHER"]))
        assert matched(open_to_all, member(gender, genders_sought=[]))
    assert not matched(open_to_all, member("MAN", genders_sought=["WOMAN"]))


def test_the_distance_must_be_within_the_smaller_of_the_two_maximums() -> None:
    her = member("WOMAN", max_distance_km=50)
    assert matched(her, member("MAN", km_east=9.0, max_distance_km=10))
    # 12 km suits her 50 km, not his 10 km.
    assert not matched(her, member("MAN", km_east=12.0, max_distance_km=10))
    assert not matched(member("WOMAN", max_distance_km=10), member("MAN", km_east=12.0))
    far = member("MAN", km_east=400.0, max_distance_km=500)
    assert matched(member("WOMAN", max_distance_km=450), far)
    assert not matched(member("WOMAN", max_distance_km=350), far)


def test_the_distance_is_the_great_circle_one() -> None:
    paris, new_york = (48.8566, 2.3522), (40.7128, -74.0060)
    a = member(latitude=paris[0], longitude=paris[1])
    b = member("MAN", latitude=new_york[0], longitude=new_york[1])
    assert matching.distance_km(a, b) == pytest.approx(5837, abs=2)


def test_members_without_a_shared_language_never_match() -> None:
    her = member("WOMAN", languages=["pt", "fr"])
    assert not matched(her, member("MAN", languages=["de", "en"]))
    assert not matched(her, member("MAN", languages=[]))
    assert matched(her, member("MAN", languages=["de", "FR"]))


def test_regional_variants_of_a_language_are_one_language() -> None:
    assert matched(member("WOMAN", languages=["pt-br"]), member("MAN", languages=["pt"]))


def test_excluded_pairs_never_match() -> None:
    her, him, other = member("WOMAN"), member("MAN"), member("MAN", interests=[])
    assert pairs(plan(her, him)) == {frozenset((her.user_id, him.user_id))}
    excluded = [frozenset((him.user_id, her.user_id))]
    assert plan(her, him, excluded=excluded) == []
    assert pairs(plan(her, him, other, excluded=excluded)) == {
        frozenset((her.user_id, other.user_id))
    }
    assert matching.exhaustive_greedy([her, him], excluded=excluded) == []


def test_nobody_is_in_two_pairings() -> None:
    women = [member("WOMAN", km_east=i * 0.1) for i in range(5)]
    men = [member("MAN", km_east=i * 0.1) for i in range(3)]
    pairings = plan(*women, *men)
    ids = [user_id for pairing in pairings for user_id in pairing.user_ids]
    assert len(pairings) == 3
    assert len(ids) == len(set(ids))


def test_members_without_a_location_are_skipped() -> None:
    nowhere = member("WOMAN", latitude=None, longitude=None)
    him = member("MAN")
    assert not matching.compatible(nowhere, him)
    assert plan(nowhere, him) == []
    her = member("WOMAN", km_east=1.0)
    assert pairs(plan(nowhere, him, her)) == {frozenset((him.user_id, her.user_id))}


def test_a_pair_across_a_grid_cell_border_still_matches() -> None:
    # On the equator, the second coordinate of the 3-D grid grows with the longitude: put
    # the two either side of a cell boundary, 2 km apart.
    level = matching._LEVEL_SHIFTS[0]
    cell_km = matching._FINE_KM * (1 << level)
    radius = matching.EARTH_RADIUS_KM
    boundary = math.ceil(radius * (1 + math.sin(0.3)) / cell_km) * cell_km
    longitude = math.degrees(math.asin(boundary / radius - 1))
    step = math.degrees(1.0 / radius)
    her = member("WOMAN", latitude=0.0, longitude=longitude - step, max_distance_km=10)
    him = member("MAN", latitude=0.0, longitude=longitude + step, max_distance_km=10)
    snapshot = matching.QueueSnapshot.from_seekers([her, him])
    cells = matching._Located.of(snapshot).fine >> level
    assert (cells[:, 0] != cells[:, 1]).any(), "the two should be in different cells"
    assert matched(her, him)


def test_the_higher_scoring_partner_is_preferred() -> None:
    her = member("WOMAN", interests=["Hiking", "Jazz", "Chess"])
    hiker = member("MAN", km_east=1.0, interests=["Hiking"])
    kindred_spirit = member("MAN", km_east=1.0, interests=["chess", "jazz", "hiking"])
    assert matching.score(her, kindred_spirit) > matching.score(her, hiker)
    for order in ((her, hiker, kindred_spirit), (kindred_spirit, hiker, her)):
        assert pairs(plan(*order)) == {frozenset((her.user_id, kindred_spirit.user_id))}


def test_closer_and_longer_waiting_pairs_score_higher() -> None:
    her = member("WOMAN", waited_seconds=0.0)
    near, far = member("MAN", km_east=1.0), member("MAN", km_east=20.0)
    assert matching.score(her, near) > matching.score(her, far)
    patient = member("MAN", km_east=1.0, waited_seconds=500.0)
    assert matching.score(her, patient) > matching.score(her, near)


def test_scores_run_from_zero_to_one() -> None:
    best = matching.score(
        member("WOMAN", waited_seconds=900.0), member("MAN", waited_seconds=600.0)
    )
    assert best == pytest.approx(1.0)
    worst = matching.score(
        member("WOMAN", interests=[], waited_seconds=0.0, max_distance_km=10),
        member("MAN", interests=[], waited_seconds=0.0, km_east=10.0),
    )
    assert worst == pytest.approx(0.0, abs=1e-6)


def test_interests_compare_without_case() -> None:
    assert matching.interest_similarity(
        member(interests=["Hiking", "JAZZ"]), member(interests=["jazz", "hiking", "Chess"])
    ) == pytest.approx(2 / 3)


def test_an_unknown_gender_is_refused() -> None:
    with pytest.raises(ValueError, match="gender"):
        matching.QueueSnapshot.from_seekers([member("ROBOT")])


def test_a_snapshot_from_columns_is_the_snapshot_of_the_same_members() -> None:
    her = member("WOMAN", interests=["Jazz", "jazz", "Chess"], languages=["pt-BR", "en"])
    him = member("MAN", interests=[], languages=["pt"], genders_sought=[])
    nowhere = member("WOMAN", latitude=None, longitude=None)
    queue = [her, him, nowhere]
    from_columns = matching.QueueSnapshot.from_columns(
        user_ids=[seeker.user_id for seeker in queue],
        age=[seeker.age for seeker in queue],
        gender=[seeker.gender for seeker in queue],
        latitude=[seeker.latitude for seeker in queue],
        longitude=[seeker.longitude for seeker in queue],
        interests=matching.Ragged.of(seeker.interests for seeker in queue),
        languages=matching.Ragged.of(seeker.languages for seeker in queue),
        min_age=[seeker.min_age for seeker in queue],
        max_age=[seeker.max_age for seeker in queue],
        genders_sought=matching.Ragged.of(seeker.genders_sought for seeker in queue),
        max_distance_km=[seeker.max_distance_km for seeker in queue],
        waited_seconds=[seeker.waited_seconds for seeker in queue],
    )
    from_seekers = matching.QueueSnapshot.from_seekers(queue)
    for name in ("age", "gender", "sought", "interests", "interest_count", "languages"):
        assert getattr(from_columns, name).tolist() == getattr(from_seekers, name).tolist()
    assert from_columns.interest_count.tolist() == [2, 0, 2]  # "Jazz" and "jazz" are one
    assert pairs(matching.plan_matches(from_columns)) == {frozenset((her.user_id, him.user_id))}


def test_an_unknown_gender_sought_is_refused() -> None:
    with pytest.raises(ValueError, match="gender"):
        matching.QueueSnapshot.from_seekers([member(genders_sought=["ROBOT"])])


def random_queue(rng: random.Random, size: int) -> list[Seeker]:
    """Members around three nearby towns with varied preferences, some without a place."""
    towns = [LISBON, east_of(LISBON, 30.0), (LISBON[0] + 0.5, LISBON[1])]
    queue = []
    for _ in range(size):
        gender = rng.choice(matching.GENDERS[:2] * 4 + matching.GENDERS[2:])
        age = rng.randint(18, 60)
        town = rng.choice(towns)
        located = rng.random() > 0.03
        queue.append(
            Seeker(
                user_id=uuid.UUID(int=rng.getrandbits(128), version=4),
                age=age,
                gender=gender,
                latitude=town[0] + rng.gauss(0, 0.05) if located else None,
                longitude=town[1] + rng.gauss(0, 0.05) if located else None,
                interests=rng.sample(
                    ["Hiking", "Jazz", "Chess", "Films", "Food", "Art"], rng.randint(0, 4)
                ),
                languages=rng.sample(["pt", "en", "es"], rng.randint(1, 2)),
                min_age=max(18, age - rng.randint(0, 10)),
                max_age=age + rng.randint(0, 10),
                genders_sought=rng.choice(
                    [["MAN"], ["WOMAN"], ["MAN"], ["WOMAN"], ["MAN", "WOMAN"], []]
                ),
                max_distance_km=rng.choice([5, 10, 25, 50, 100]),
                waited_seconds=rng.uniform(0, 900),
            )
        )
    return queue


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_planner_nearly_equals_the_exhaustive_greedy_on_a_random_queue(seed: int) -> None:
    rng = random.Random(seed)
    queue = random_queue(rng, 400)
    located = [seeker for seeker in queue if matching.is_located(seeker)]
    excluded = [
        frozenset((a.user_id, b.user_id)) for a, b in (rng.sample(located, 2) for _ in range(200))
    ]
    pairings = matching.plan_matches(matching.QueueSnapshot.from_seekers(queue), excluded=excluded)
    reference = matching.exhaustive_greedy(queue, excluded=excluded)
    by_id = {seeker.user_id: seeker for seeker in queue}
    seen: set[uuid.UUID] = set()
    for pairing in pairings:
        a, b = (by_id[user_id] for user_id in pairing.user_ids)
        assert matching.compatible(a, b)
        assert frozenset(pairing.user_ids) not in excluded
        assert pairing.score == pytest.approx(matching.score(a, b), abs=1e-6)
        assert pairing.distance_km == pytest.approx(matching.distance_km(a, b), abs=1e-6)
        assert seen.isdisjoint(pairing.user_ids)
        seen.update(pairing.user_ids)
    assert [pairing.score for pairing in pairings] == sorted(
        (pairing.score for pairing in pairings), reverse=True
    )
    assert len(reference) > 50
    total = sum(pairing.score for pairing in pairings)
    assert total >= 0.95 * sum(pairing.score for pairing in reference)
