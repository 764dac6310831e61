"""Who may meet whom, how well they fit, and the pairings of one matcher tick. Pure domain logic.

Two members are compatible when each fits the other's preferences: age range, genders
sought (none listed means anyone), a great-circle distance within the smaller of their two
maximum distances, and at least one shared language; excluded pairs never meet.

Score, in [0, 1]: 0.5 x the Jaccard similarity of their interests (case-insensitive; 0 when
neither lists any) + 0.3 x closeness (1 - distance / the smaller maximum distance, so 1 when
side by side, 0 at the limit) + 0.2 x waiting (the mean of their waits, each counted up to
ten minutes, over ten minutes). Higher is better.

`plan_matches` is a greedy maximum-weight matching on a sparse candidate graph: members are
bucketed by gender pairing and by 3-D grid cell on the globe (each member also visits the
neighbouring cells their search circle reaches), sorted inside a bucket by neighbourhood,
age and a min-hash of interests, and each is scored against a window of neighbours in that
order. `exhaustive_greedy`
scores every pair and is the reference the planner is measured against.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from itertools import chain
from operator import attrgetter
from typing import NamedTuple, Protocol

import numpy as np
import numpy.typing as npt

GENDERS = ("WOMAN", "MAN", "NON_BINARY", "OTHER")
EARTH_RADIUS_KM = 6371.0088
INTEREST_WEIGHT = 0.5
CLOSENESS_WEIGHT = 0.3
WAITING_WEIGHT = 0.2
WAIT_SATURATION_SECONDS = 600.0
# Each member is compared with this many neighbours on each side in every bucket they visit.
DEFAULT_WINDOW = 24

# The finest grid has 1024 cubes a side across the Earth (12.4 km); buckets are cubes of
# 4, 64 or 1024 of them a side (50, 796 and 12,742 km). A member searches at the finest
# level whose cubes are at least four times their maximum distance, so their search ball
# reaches at most one neighbouring cube along each axis.
_FINE_BITS = 10
_FINE_KM = 2 * EARTH_RADIUS_KM / (1 << _FINE_BITS)
_LEVEL_SHIFTS = (2, 6, 10)
_SEARCH_RATIO = 4.0
# Inside a bucket, members sort by neighbourhood (cubes of 4 fine cells a side, 50 km: about
# a city), then by age, then by interests.
_NEIGHBOURHOOD_SHIFT = 2
# Interests beyond the most common ones still count in set sizes but not as shared.
MAX_INTEREST_BITS = 256

_GENDER_CODES = {name: code for code, name in enumerate(GENDERS)}
_ANYONE = (1 << len(GENDERS)) - 1
_AGE_KEY_BITS = 7
_SIGNATURE_BITS = 8
_HOME, _OWN_LEVEL, _ALL_FLAGS = 4, 8, 15

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]
Words = npt.NDArray[np.uint64]


class SeekerRecord(Protocol):
    """What the matcher reads about a queued member (a `Seeker`, or a row with these names)."""

    @property
    def user_id(self) -> uuid.UUID: ...
    @property
    def age(self) -> int: ...
    @property
    def gender(self) -> str: ...
    @property
    def latitude(self) -> float | None: ...
    @property
    def longitude(self) -> float | None: ...
    @property
    def interests(self) -> Sequence[str]: ...
    @property
    def languages(self) -> Sequence[str]: ...
    @property
    def min_age(self) -> int: ...
    @property
    def max_age(self) -> int: ...
    @property
    def genders_sought(self) -> Sequence[str]: ...
    @property
    def max_distance_km(self) -> float: ...
    @property
    def waited_seconds(self) -> float: ...


class Seeker(NamedTuple):
    """A queued member as the matcher sees them."""

    user_id: uuid.UUID
    age: int
    gender: str
    latitude: float | None
    longitude: float | None
    interests: Sequence[str] = ()
    languages: Sequence[str] = ()
    min_age: int = 18
    max_age: int = 99
    genders_sought: Sequence[str] = ()
    max_distance_km: float = 50
    waited_seconds: float = 0.0


class Pairing(NamedTuple):
    """Two members the matcher pairs, with their score and how far apart they are."""

    user_ids: tuple[uuid.UUID, uuid.UUID]
    score: float
    distance_km: float


# --- The reference definitions, one pair at a time -------------------------------------


def distance_km(a: SeekerRecord, b: SeekerRecord) -> float:
    """The great-circle (haversine) distance between two located members."""
    assert a.latitude is not None and a.longitude is not None
    assert b.latitude is not None and b.longitude is not None
    lat_a, lat_b = math.radians(a.latitude), math.radians(b.latitude)
    half_dlat = (lat_b - lat_a) / 2
    half_dlon = math.radians(b.longitude - a.longitude) / 2
    h = math.sin(half_dlat) ** 2 + math.cos(lat_a) * math.cos(lat_b) * math.sin(half_dlon) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def language_family(code: str) -> str:
    """The primary subtag of a language code: `pt-br` and `pt` both speak `pt`."""
    return code.split("-", 1)[0].casefold()


def shares_language(a: SeekerRecord, b: SeekerRecord) -> bool:
    """Whether the two speak at least one language in common (regional variants agree)."""
    return not {language_family(code) for code in a.languages}.isdisjoint(
        language_family(code) for code in b.languages
    )


def fits(seeker: SeekerRecord, other: SeekerRecord) -> bool:
    """Whether `other` has an age and a gender that `seeker` asks for (one direction only)."""
    sought = seeker.genders_sought
    return seeker.min_age <= other.age <= seeker.max_age and (
        not sought or other.gender in sought
    )


def is_located(seeker: SeekerRecord) -> bool:
    """Whether the member has a location (without one they are never matched)."""
    return seeker.latitude is not None and seeker.longitude is not None


def compatible(a: SeekerRecord, b: SeekerRecord) -> bool:
    """Whether two members may be matched: each fits the other's preferences."""
    return (
        a.user_id != b.user_id
        and fits(a, b)
        and fits(b, a)
        and is_located(a)
        and is_located(b)
        and distance_km(a, b) <= min(a.max_distance_km, b.max_distance_km)
        and shares_language(a, b)
    )


def interest_similarity(a: SeekerRecord, b: SeekerRecord) -> float:
    """The Jaccard similarity of their interests, ignoring case (0 when neither has any)."""
    mine = {interest.casefold() for interest in a.interests}
    theirs = {interest.casefold() for interest in b.interests}
    union = len(mine | theirs)
    return len(mine & theirs) / union if union else 0.0


def waiting(a_seconds: float, b_seconds: float) -> float:
    """How long the two have waited, in [0, 1]: each wait counts up to the saturation."""
    cap = WAIT_SATURATION_SECONDS
    return (min(max(a_seconds, 0.0), cap) + min(max(b_seconds, 0.0), cap)) / (2 * cap)


def score(a: SeekerRecord, b: SeekerRecord) -> float:
    """How good a match two compatible members make, in [0, 1] (see the module docstring)."""
    limit = min(a.max_distance_km, b.max_distance_km)
    closeness = max(0.0, 1.0 - distance_km(a, b) / limit) if limit > 0 else 0.0
    return (
        INTEREST_WEIGHT * interest_similarity(a, b)
        + CLOSENESS_WEIGHT * closeness
        + WAITING_WEIGHT * waiting(a.waited_seconds, b.waited_seconds)
    )


def _pair_key(a: uuid.UUID, b: uuid.UUID) -> frozenset[uuid.UUID]:
    return frozenset((a, b))


def exhaustive_greedy(
    seekers: Iterable[SeekerRecord], *, excluded: Collection[frozenset[uuid.UUID]] = ()
) -> list[Pairing]:
    """Every compatible pair scored, taken best first while both are free (the reference)."""
    people = [seeker for seeker in seekers if is_located(seeker)]
    barred = set(excluded)
    scored = [
        (score(a, b), i, j)
        for i, a in enumerate(people)
        for j in range(i + 1, len(people))
        if compatible(a, b := people[j]) and _pair_key(a.user_id, b.user_id) not in barred
    ]
    scored.sort(key=lambda entry: -entry[0])
    taken: set[int] = set()
    pairings = []
    for value, i, j in scored:
        if i in taken or j in taken:
            continue
        taken.update((i, j))
        a, b = people[i], people[j]
        pairings.append(Pairing((a.user_id, b.user_id), value, distance_km(a, b)))
    return pairings


# --- The columnar snapshot -------------------------------------------------------------


class _Vocabulary(dict[str, int]):
    """Codes for words; words that normalise alike share a code, new ones get the next."""

    def __init__(self, normalise: Callable[[str], str]) -> None:
        super().__init__()
        self._normalise = normalise
        self._codes: dict[str, int] = {}

    def __missing__(self, word: str) -> int:
        code = self[word] = self._codes.setdefault(self._normalise(word), len(self._codes))
        return code


class _SoughtMasks(dict[tuple[str, ...], int]):
    """The bit mask of a genders-sought list (empty: anyone)."""

    def __missing__(self, sought: tuple[str, ...]) -> int:
        mask = 0
        for name in sought:
            mask |= 1 << _gender_code(name)
        self[sought] = mask = mask or _ANYONE
        return mask


def _gender_code(name: str) -> int:
    try:
        return _GENDER_CODES[name]
    except KeyError:
        raise ValueError(f"unknown gender {name!r}; expected one of {GENDERS}") from None


def _integers(records: Sequence[SeekerRecord], name: str) -> Ints:
    values: Ints = np.fromiter(map(attrgetter(name), records), np.int64, len(records))
    return values


def _floats(records: Sequence[SeekerRecord], name: str) -> Floats:
    # np.array, not np.fromiter: a missing location (None) becomes NaN.
    values: Floats = np.array(list(map(attrgetter(name), records)), dtype=np.float64)
    return values


def _bitsets(
    lists: Sequence[Sequence[str]], vocabulary: _Vocabulary, max_bits: int | None
) -> tuple[Words, Ints, Ints]:
    """Per member: a bitset of their words (words x members), how many distinct words, and
    a min-hash signature of them."""
    n = len(lists)
    counts = np.fromiter(map(len, lists), dtype=np.int64, count=n)
    codes = np.fromiter(
        map(vocabulary.__getitem__, chain.from_iterable(lists)),
        dtype=np.int64,
        count=int(counts.sum()),
    )
    owners = np.repeat(np.arange(n), counts)
    distinct = int(codes.max()) + 1 if codes.size else 0
    dropped = np.zeros(n, dtype=np.int64)
    if max_bits is not None and distinct > max_bits:
        # The most common words get a bit; the rest only count in set sizes.
        by_popularity = np.argsort(-np.bincount(codes, minlength=distinct), kind="stable")
        rank = np.empty(distinct, dtype=np.int64)
        rank[by_popularity] = np.arange(distinct)
        codes = rank[codes]
        rare = codes >= max_bits
        dropped = np.bincount(owners[rare], minlength=n)
        codes, owners, distinct = codes[~rare], owners[~rare], max_bits
    words = np.zeros((max(1, -(-distinct // 64)), n), dtype=np.uint64)
    bits = np.left_shift(np.uint64(1), (codes & 63).astype(np.uint64))
    np.bitwise_or.at(words, (codes >> 6, owners), bits)
    sizes = np.bitwise_count(words).sum(axis=0, dtype=np.int64) + dropped
    # A min-hash: two members get the same one with a probability equal to their Jaccard
    # similarity, so sorting by it puts members with shared words side by side.
    signature = np.full(n, 1 << 32, dtype=np.int64)
    np.minimum.at(signature, owners, (codes * 2654435761) & 0xFFFFFFFF)
    return words, sizes, signature >> (33 - _SIGNATURE_BITS)


@dataclass(frozen=True, eq=False)
class QueueSnapshot:
    """The queue at one tick, one array per attribute (member i is index i everywhere)."""

    user_ids: Sequence[uuid.UUID]
    age: Ints
    min_age: Ints
    max_age: Ints
    gender: Ints
    sought: Ints  # bit g set: gender code g is sought
    latitude: Floats  # NaN: no location
    longitude: Floats
    max_distance_km: Floats
    waited_seconds: Floats
    interests: Words  # words x members bitsets
    interest_count: Ints
    interest_signature: Ints
    languages: Words  # words x members bitsets of language families

    @classmethod
    def from_seekers(cls, seekers: Iterable[SeekerRecord]) -> QueueSnapshot:
        """The snapshot of these members (validates genders; keeps the given order)."""
        records = seekers if isinstance(seekers, Sequence) else list(seekers)
        sought = _SoughtMasks()
        interests, interest_count, interest_signature = _bitsets(
            list(map(attrgetter("interests"), records)), _Vocabulary(str.casefold),
            MAX_INTEREST_BITS,
        )
        languages, _, _ = _bitsets(
            list(map(attrgetter("languages"), records)), _Vocabulary(language_family), None
        )
        return cls(
            user_ids=list(map(attrgetter("user_id"), records)),
            age=_integers(records, "age"),
            min_age=_integers(records, "min_age"),
            max_age=_integers(records, "max_age"),
            gender=np.fromiter(
                map(_gender_code, map(attrgetter("gender"), records)), np.int64, len(records)
            ),
            sought=np.fromiter(
                map(sought.__getitem__, map(tuple, map(attrgetter("genders_sought"), records))),
                np.int64, len(records),
            ),
            latitude=_floats(records, "latitude"),
            longitude=_floats(records, "longitude"),
            max_distance_km=_floats(records, "max_distance_km"),
            waited_seconds=_floats(records, "waited_seconds"),
            interests=interests,
            interest_count=interest_count,
            interest_signature=interest_signature,
            languages=languages,
        )

    def __len__(self) -> int:
        return len(self.user_ids)


# --- The planner -----------------------------------------------------------------------


def _spread_bits(values: Ints) -> Ints:
    """The low 21 bits of each value with two zero bits after each (for 3-D Morton codes)."""
    v = values & 0x1FFFFF
    v = (v | v << 32) & 0x1F00000000FFFF
    v = (v | v << 16) & 0x1F0000FF0000FF
    v = (v | v << 8) & 0x100F00F00F00F00F
    v = (v | v << 4) & 0x10C30C30C30C30C3
    spread: Ints = (v | v << 2) & 0x1249249249249249
    return spread


def _morton(cells: Ints) -> Ints:
    """The Z-order code of 3-D cell coordinates (3 x n): nearby cells sort together, and a
    coarser cell's code is a prefix of its finer cells' codes."""
    code: Ints = (
        _spread_bits(cells[0]) << 2 | _spread_bits(cells[1]) << 1 | _spread_bits(cells[2])
    )
    return code


def _sorted_order(fields: Sequence[tuple[Ints, int]]) -> Ints:
    """Indices that sort by the fields, most significant first (values below 2**bits);
    ties keep index order."""
    n = len(fields[0][0])
    index_bits = max(1, (n - 1).bit_length())
    if sum(bits for _, bits in fields) + index_bits > 63:
        return np.lexsort([values for values, _ in reversed(fields)]).astype(np.int64)
    # One packed integer sort is several times faster than an argsort.
    key = np.zeros(n, dtype=np.int64)
    for values, bits in fields:
        key <<= bits
        key |= values
    key <<= index_bits
    key |= np.arange(n)
    key.sort()
    order: Ints = key & ((1 << index_bits) - 1)
    return order


@dataclass(frozen=True, eq=False)
class _Located:
    """The located members of a snapshot, renumbered in Z-order so neighbours sit together."""

    index: Ints  # into the snapshot
    position: Floats  # 3 x n, km, the Earth's centre at (R, R, R) so all are non-negative
    fine: Ints  # 3 x n, the finest grid cell
    morton: Ints
    reach: Floats  # the chord of the maximum distance, km
    level: Ints
    age: Ints
    min_age: Ints
    max_age: Ints
    age_key: Ints
    gender: Ints
    sought: Ints
    max_distance_km: Floats
    waited_seconds: Floats
    interests: Words
    interest_count: Ints
    interest_signature: Ints
    languages: Words

    @classmethod
    def of(cls, snapshot: QueueSnapshot) -> _Located:
        located = np.flatnonzero(~(np.isnan(snapshot.latitude) | np.isnan(snapshot.longitude)))
        lat = np.radians(snapshot.latitude[located])
        lon = np.radians(snapshot.longitude[located])
        cos_lat = np.cos(lat)
        position = EARTH_RADIUS_KM * (
            1 + np.stack((cos_lat * np.cos(lon), cos_lat * np.sin(lon), np.sin(lat)))
        )
        fine = np.minimum((position / _FINE_KM).astype(np.int64), (1 << _FINE_BITS) - 1)
        morton = _morton(fine)
        order = _sorted_order([(morton, 3 * _FINE_BITS)])
        located, position, fine, morton = (
            located[order], position[:, order], fine[:, order], morton[order]
        )
        limit = snapshot.max_distance_km[located]
        half_angle = np.minimum(limit, math.pi * EARTH_RADIUS_KM) / (2 * EARTH_RADIUS_KM)
        reach = 2 * EARTH_RADIUS_KM * np.sin(half_angle)
        cell_km = _FINE_KM * (1 << np.array(_LEVEL_SHIFTS))
        level = np.minimum(
            np.searchsorted(cell_km, _SEARCH_RATIO * reach), len(_LEVEL_SHIFTS) - 1
        )
        age, min_age, max_age = (
            snapshot.age[located], snapshot.min_age[located], snapshot.max_age[located]
        )
        return cls(
            index=located,
            position=position,
            fine=fine,
            morton=morton,
            reach=reach,
            level=level.astype(np.int64),
            age=age,
            min_age=min_age,
            max_age=max_age,
            # Between one's own age and the middle of one's range: where mutual fits sort
            # together (an older member seeking younger ones meets younger ones seeking older).
            age_key=np.clip((2 * age + min_age + max_age) // 4, 0, (1 << _AGE_KEY_BITS) - 1),
            gender=snapshot.gender[located],
            sought=snapshot.sought[located],
            max_distance_km=limit,
            waited_seconds=snapshot.waited_seconds[located],
            interests=snapshot.interests[:, located],
            interest_count=snapshot.interest_count[located],
            interest_signature=snapshot.interest_signature[located],
            languages=snapshot.languages[:, located],
        )

    def __len__(self) -> int:
        return len(self.index)


@dataclass(frozen=True, eq=False)
class _Entries:
    """A bucket visit: one member, one gender pairing (the cell comes per level)."""

    person: Ints
    channel: Ints  # the unordered gender pair, 4 bits
    flags: Ints  # side (1 or 2 in a mixed pairing, 3 in a same-gender one), home, own level

    @classmethod
    def of(cls, people: _Located) -> _Entries:
        """One entry per member and gender they seek."""
        seeks = (people.sought[:, None] >> np.arange(len(GENDERS))) & 1
        person, target = np.nonzero(seeks)  # member-major, so sides interleave in a bucket
        own = people.gender[person]
        low, high = np.minimum(own, target), np.maximum(own, target)
        side = np.where(own == target, 3, np.where(own < target, 1, 2))
        return cls(person=person.astype(np.int64), channel=low * 4 + high, flags=side)

    def take(self, which: Ints) -> _Entries:
        return _Entries(self.person[which], self.channel[which], self.flags[which])

    @staticmethod
    def joined(parts: Sequence[_Entries], mortons: Sequence[Ints]) -> tuple[_Entries, Ints]:
        return (
            _Entries(
                np.concatenate([part.person for part in parts]),
                np.concatenate([part.channel for part in parts]),
                np.concatenate([part.flags for part in parts]),
            ),
            np.concatenate(mortons),
        )


def _visits(people: _Located, own: _Entries, shift: int) -> tuple[_Entries, Ints]:
    """The entries of members searching at this level: one in each cell their ball reaches,
    placed at the point of that cell nearest to them (so they sort beside its border)."""
    position = people.position[:, own.person]
    reach = people.reach[own.person]
    top = (1 << _FINE_BITS) - 1
    low = np.clip(((position - reach) / _FINE_KM).astype(np.int64), 0, top) >> shift
    high = np.clip(((position + reach) / _FINE_KM).astype(np.int64), 0, top) >> shift
    crosses = high != low
    inside = np.flatnonzero(~(crosses[0] | crosses[1] | crosses[2]))
    at_home = own.take(inside)
    parts = [_Entries(at_home.person, at_home.channel, at_home.flags | _OWN_LEVEL | _HOME)]
    mortons = [people.morton[at_home.person]]
    # Only the few whose ball crosses a border visit more than their home cell.
    border = np.flatnonzero(crosses[0] | crosses[1] | crosses[2])
    low, high, crosses = low[:, border], high[:, border], crosses[:, border]
    fine = people.fine[:, own.person[border]]
    home = fine >> shift
    for corner in range(8):
        upper = np.array([(corner >> axis) & 1 for axis in range(3)], dtype=bool)[:, None]
        reaches = crosses | ~upper
        valid = np.flatnonzero(reaches[0] & reaches[1] & reaches[2])
        cell = np.where(upper, high[:, valid], low[:, valid])
        nearest = np.clip(fine[:, valid], cell << shift, ((cell + 1) << shift) - 1)
        same = cell == home[:, valid]
        entries = own.take(border[valid])
        flags = entries.flags | _OWN_LEVEL | np.where(same[0] & same[1] & same[2], _HOME, 0)
        parts.append(_Entries(entries.person, entries.channel, flags))
        mortons.append(_morton(nearest))
    return _Entries.joined(parts, mortons)


def _level_pairs(people: _Located, entries: _Entries, level: int, window: int) -> tuple[Ints, Ints]:
    """Candidate pairs found at one level: neighbours in each bucket's sorted order, with
    genders and ages that fit both ways.

    Members of this level visit every cell their ball reaches; members of coarser levels
    are at home only, so the finer ones find them. A pair needs a member of this level
    (coarser pairs are found at their own level) and a home entry (two visitors also meet
    in one of their homes).
    """
    shift = _LEVEL_SHIFTS[level]
    entry_level = people.level[entries.person]
    own, morton = _visits(people, entries.take(np.flatnonzero(entry_level == level)), shift)
    coarser = entries.take(np.flatnonzero(entry_level > level))
    visits, morton = _Entries.joined(
        [own, _Entries(coarser.person, coarser.channel, coarser.flags | _HOME)],
        [morton, people.morton[coarser.person]],
    )
    age_key = people.age_key[visits.person]
    coarse = 3 * min(shift, _NEIGHBOURHOOD_SHIFT)
    order = _sorted_order(
        [(visits.channel, 4), (morton >> coarse, 3 * _FINE_BITS - coarse),
         (age_key, _AGE_KEY_BITS), (people.interest_signature[visits.person], _SIGNATURE_BITS)]
    )
    # A bucket: one gender pairing in one cell of this level.
    bucket = visits.channel[order] << (3 * _FINE_BITS) | morton[order] >> (3 * shift)
    flags, member = visits.flags[order], visits.person[order]
    age, low_age, high_age = people.age[member], people.min_age[member], people.max_age[member]
    firsts, seconds = [np.empty(0, np.int64)], [np.empty(0, np.int64)]
    for k in range(1, min(window, len(order) - 1) + 1):
        ok = (bucket[:-k] == bucket[k:]) & ((flags[:-k] | flags[k:]) == _ALL_FLAGS)
        ok &= (age[k:] >= low_age[:-k]) & (age[k:] <= high_age[:-k])
        ok &= (age[:-k] >= low_age[k:]) & (age[:-k] <= high_age[k:])
        at = np.flatnonzero(ok)
        firsts.append(member[at])
        seconds.append(member[at + k])
    return np.concatenate(firsts), np.concatenate(seconds)


def _candidate_pairs(people: _Located, window: int) -> tuple[Ints, Ints]:
    """Pairs worth scoring: nearby in a shared bucket, genders and ages fitting both ways."""
    entries = _Entries.of(people)
    found = [
        _level_pairs(people, entries, int(level), window) for level in np.unique(people.level)
    ]
    return np.concatenate([p for p, _ in found]), np.concatenate([q for _, q in found])


def _chord_km(people: _Located, p: Ints, q: Ints) -> Floats:
    """The straight-line distance through the Earth between the members of each pair."""
    squared = np.zeros(len(p))
    for axis in people.position:
        squared += np.square(axis[p] - axis[q])
    chord: Floats = np.sqrt(squared)
    return chord


def _speak_together(people: _Located, p: Ints, q: Ints) -> Bools:
    """Whether the members of each pair share a language family."""
    shared = np.zeros(len(p), dtype=bool)
    for word in people.languages:
        shared |= (word[p] & word[q]) != 0
    return shared


def _pair_numbers(p: Ints, q: Ints, n: int) -> Ints:
    """One number per unordered pair of members (the same whichever comes first)."""
    pair: Ints = np.minimum(p, q) * n + np.maximum(p, q)
    return pair


def _excluded_pairs(
    snapshot: QueueSnapshot, people: _Located, excluded: Collection[frozenset[uuid.UUID]]
) -> Ints:
    """The pair numbers of the excluded pairs whose members are both located and queued."""
    if not excluded:
        return np.empty(0, np.int64)
    local = np.full(len(snapshot), -1, dtype=np.int64)
    local[people.index] = np.arange(len(people))
    position = dict(zip(snapshot.user_ids, local.tolist(), strict=True))
    ends = np.array(
        [[position.get(user_id, -1) for user_id in pair] for pair in excluded if len(pair) == 2],
        dtype=np.int64,
    ).reshape(-1, 2)
    ends = ends[np.all(ends >= 0, axis=1)]
    return np.unique(_pair_numbers(ends[:, 0], ends[:, 1], len(people)))


def _pair_scores(people: _Located, p: Ints, q: Ints, chord: Floats) -> tuple[Floats, Floats]:
    """The score and the great-circle distance of each pair, as `score` defines them."""
    shared = np.zeros(len(p), dtype=np.int64)
    for word in people.interests:
        shared += np.bitwise_count(word[p] & word[q])
    union = people.interest_count[p] + people.interest_count[q] - shared
    similarity = np.divide(shared, union, out=np.zeros(len(p)), where=union > 0)
    distance = 2 * EARTH_RADIUS_KM * np.arcsin(np.minimum(chord / (2 * EARTH_RADIUS_KM), 1.0))
    limit = np.minimum(people.max_distance_km[p], people.max_distance_km[q])
    closeness = np.clip(
        1.0 - np.divide(distance, limit, out=np.ones(len(p)), where=limit > 0), 0.0, 1.0
    )
    waited = np.clip(people.waited_seconds, 0.0, WAIT_SATURATION_SECONDS)
    wait = (waited[p] + waited[q]) / (2 * WAIT_SATURATION_SECONDS)
    total: Floats = (
        INTEREST_WEIGHT * similarity + CLOSENESS_WEIGHT * closeness + WAITING_WEIGHT * wait
    )
    return total, distance


def _greedy_matching(p: Ints, q: Ints, scores: Floats, n: int) -> Ints:
    """The pairs a best-score-first greedy takes (ties by pair), best first, as indices into
    p and q.

    A locally dominant pair (the best remaining pair of both its members) is one the
    sequential greedy takes, so each round takes all of them at once, vectorised.
    """
    pair = _pair_numbers(p, q, n)
    pair_bits = max(1, (n * n).bit_length())
    score_bits = 62 - pair_bits
    scaled = np.rint(np.clip(scores, 0.0, 1.0) * ((1 << score_bits) - 1)).astype(np.int64)
    key = scaled << pair_bits | pair
    best = np.full(n, -1, dtype=np.int64)
    matched = np.zeros(n, dtype=bool)
    alive = np.arange(len(p))
    taken = [np.empty(0, np.int64)]
    while alive.size:
        ap, aq, ak = p[alive], q[alive], key[alive]
        np.maximum.at(best, ap, ak)
        np.maximum.at(best, aq, ak)
        won = alive[(best[ap] == ak) & (best[aq] == ak)]
        matched[p[won]] = True
        matched[q[won]] = True
        taken.append(won)
        best[ap] = -1
        best[aq] = -1
        alive = alive[~(matched[ap] | matched[aq])]
    chosen = np.concatenate(taken)
    # A pair found in two buckets is taken twice in the same round: keep it once.
    _, first = np.unique(pair[chosen], return_index=True)
    once = chosen[first]
    best_first: Ints = once[np.argsort(-key[once], kind="stable")]
    return best_first


def plan_matches(
    snapshot: QueueSnapshot,
    *,
    excluded: Collection[frozenset[uuid.UUID]] = (),
    window: int = DEFAULT_WINDOW,
) -> list[Pairing]:
    """Pairings of compatible members, best first; nobody twice, excluded pairs never.

    Greedy by score over the candidates each member meets in their buckets, where each is
    compared with `window` neighbours either side (wider is slower and nearer to scoring
    every pair).
    """
    people = _Located.of(snapshot)
    if len(people) < 2:
        return []
    p, q = _candidate_pairs(people, window)
    chord = _chord_km(people, p, q)
    keep = (chord <= np.minimum(people.reach[p], people.reach[q])) & _speak_together(people, p, q)
    barred = _excluded_pairs(snapshot, people, excluded)
    if barred.size:
        keep &= ~np.isin(_pair_numbers(p, q, len(people)), barred)
    p, q, chord = p[keep], q[keep], chord[keep]
    scores, distances = _pair_scores(people, p, q, chord)
    chosen = _greedy_matching(p, q, scores, len(people))
    user_ids = snapshot.user_ids
    pairs = zip(
        map(user_ids.__getitem__, people.index[p[chosen]].tolist()),
        map(user_ids.__getitem__, people.index[q[chosen]].tolist()),
        strict=True,
    )
    # tuple.__new__ skips the Python-level constructor: tens of thousands of these a tick.
    make = partial(tuple.__new__, Pairing)
    return list(
        map(make, zip(pairs, scores[chosen].tolist(), distances[chosen].tolist(), strict=True))
    )
