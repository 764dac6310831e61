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

import gc
import math
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from itertools import chain
from operator import attrgetter
from typing import Any, NamedTuple, Protocol

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
    return seeker.min_age <= other.age <= seeker.max_age and (not sought or other.gender in sought)


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


class Ragged(NamedTuple):
    """A list-valued column: every member's values end to end, and how many each has."""

    values: Sequence[str]
    lengths: npt.ArrayLike

    @classmethod
    def of(cls, lists: Iterable[Sequence[str]]) -> Ragged:
        """The column of these per-member lists, in order."""
        rows = lists if isinstance(lists, Sequence) else list(lists)
        lengths = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
        return cls(list(chain.from_iterable(rows)), lengths)


class _Vocabulary(dict[str, int]):
    """Codes for words; words that normalise alike share a code, new ones get the next."""

    def __init__(self, normalise: Callable[[str], str]) -> None:
        super().__init__()
        self._normalise = normalise
        self._codes: dict[str, int] = {}

    def __missing__(self, word: str) -> int:
        code = self[word] = self._codes.setdefault(self._normalise(word), len(self._codes))
        return code


def _gender_codes(names: Sequence[str]) -> Ints:
    """The code of each gender name; refuses a name outside GENDERS."""
    try:
        codes: Ints = np.fromiter(
            map(_GENDER_CODES.__getitem__, names), dtype=np.int64, count=len(names)
        )
    except KeyError as unknown:
        raise ValueError(f"unknown gender {unknown.args[0]!r}; expected one of {GENDERS}") from None
    return codes


def _owners(lengths: Ints) -> Ints:
    """For each value of a ragged column, the member it belongs to."""
    owners: Ints = np.repeat(np.arange(len(lengths)), lengths)
    return owners


def _sought_masks(sought: Ragged, n: int) -> Ints:
    """Per member, the bit mask of the genders they seek (none listed: anyone)."""
    lengths = np.asarray(sought.lengths, dtype=np.int64)
    masks = np.zeros(n, dtype=np.int64)
    np.bitwise_or.at(masks, _owners(lengths), 1 << _gender_codes(sought.values))
    masks[masks == 0] = _ANYONE
    return masks


def _bitsets(
    column: Ragged, vocabulary: _Vocabulary, max_bits: int | None
) -> tuple[Words, Ints, Ints]:
    """Per member: a bitset of their words (words x members), how many distinct words, and
    a min-hash signature of them."""
    lengths = np.asarray(column.lengths, dtype=np.int64)
    n = len(lengths)
    # One dict look-up per value; only a new word pays for its normalisation.
    codes = np.fromiter(
        map(vocabulary.__getitem__, column.values), dtype=np.int64, count=len(column.values)
    )
    owners = _owners(lengths)
    distinct = int(codes.max()) + 1 if codes.size else 0
    dropped = np.zeros(n, dtype=np.int64)
    if max_bits is not None and distinct > max_bits:
        # The most common words get a bit; the rest only count in set sizes.
        by_popularity = np.argsort(-np.bincount(codes, minlength=distinct), kind="stable")
        rank = np.empty(distinct, dtype=np.int64)
        rank[by_popularity] = np.arange(distinct)
        codes = rank[codes]
        rare = codes >= max_bits
        # A word listed twice (say in two cases) still counts once.
        rare_pairs = np.unique(owners[rare] * distinct + codes[rare])
        dropped = np.bincount(rare_pairs // distinct, minlength=n)
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


def _column(values: Any, dtype: type[np.generic]) -> npt.NDArray[Any]:
    # None (a missing location) becomes NaN in a float column.
    return np.asarray(values, dtype=dtype)


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
    def from_columns(
        cls,
        *,
        user_ids: Sequence[uuid.UUID],
        age: npt.ArrayLike,
        gender: Sequence[str],
        latitude: Sequence[float | None] | npt.ArrayLike,  # None: no location
        longitude: Sequence[float | None] | npt.ArrayLike,
        interests: Ragged,
        languages: Ragged,
        min_age: npt.ArrayLike,
        max_age: npt.ArrayLike,
        genders_sought: Ragged,
        max_distance_km: npt.ArrayLike,
        waited_seconds: npt.ArrayLike,
    ) -> QueueSnapshot:
        """The snapshot of members given one column per attribute (validates genders)."""
        n = len(user_ids)
        interest_words, interest_count, interest_signature = _bitsets(
            interests, _Vocabulary(str.casefold), MAX_INTEREST_BITS
        )
        language_words, _, _ = _bitsets(languages, _Vocabulary(language_family), None)
        return cls(
            user_ids=user_ids,
            age=_column(age, np.int64),
            min_age=_column(min_age, np.int64),
            max_age=_column(max_age, np.int64),
            gender=_gender_codes(gender),
            sought=_sought_masks(genders_sought, n),
            latitude=_column(latitude, np.float64),
            longitude=_column(longitude, np.float64),
            max_distance_km=_column(max_distance_km, np.float64),
            waited_seconds=_column(waited_seconds, np.float64),
            interests=interest_words,
            interest_count=interest_count,
            interest_signature=interest_signature,
            languages=language_words,
        )

    @classmethod
    def from_seekers(cls, seekers: Iterable[SeekerRecord]) -> QueueSnapshot:
        """The snapshot of these members (validates genders; keeps the given order)."""
        records = seekers if isinstance(seekers, Sequence) else list(seekers)

        def column(name: str) -> list[Any]:
            return list(map(attrgetter(name), records))

        return cls.from_columns(
            user_ids=column("user_id"),
            age=column("age"),
            gender=column("gender"),
            latitude=column("latitude"),
            longitude=column("longitude"),
            interests=Ragged.of(column("interests")),
            languages=Ragged.of(column("languages")),
            min_age=column("min_age"),
            max_age=column("max_age"),
            genders_sought=Ragged.of(column("genders_sought")),
            max_distance_km=column("max_distance_km"),
            waited_seconds=column("waited_seconds"),
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
    code: Ints = _spread_bits(cells[0]) << 2 | _spread_bits(cells[1]) << 1 | _spread_bits(cells[2])
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
            located[order],
            position[:, order],
            fine[:, order],
            morton[order],
        )
        limit = snapshot.max_distance_km[located]
        half_angle = np.minimum(limit, math.pi * EARTH_RADIUS_KM) / (2 * EARTH_RADIUS_KM)
        reach = 2 * EARTH_RADIUS_KM * np.sin(half_angle)
        cell_km = _FINE_KM * (1 << np.array(_LEVEL_SHIFTS))
        level = np.minimum(np.searchsorted(cell_km, _SEARCH_RATIO * reach), len(_LEVEL_SHIFTS) - 1)
        age, min_age, max_age = (
            snapshot.age[located],
            snapshot.min_age[located],
            snapshot.max_age[located],
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


class _Ranked(NamedTuple):
    """Candidate pairs as sortable keys: the score in the high bits, the pair number below
    (so keys are unique per pair, and ties go by pair)."""

    keys: Ints
    pair_bits: int


def _pair_bits(n: int) -> int:
    return max(1, (n * n).bit_length())


def _rank_keys(scores: Floats, pairs: Ints, pair_bits: int) -> Ints:
    """The sortable key of each scored pair."""
    score_bits = 62 - pair_bits
    scaled = np.rint(np.clip(scores, 0.0, 1.0) * ((1 << score_bits) - 1)).astype(np.int64)
    keys: Ints = scaled << pair_bits | pairs
    return keys


def _arc_km(chord: Floats) -> Floats:
    """The great-circle distance of each straight-line one through the Earth."""
    half = chord / (2 * EARTH_RADIUS_KM)
    squared = half * half
    # Nearly every pair is under 600 km apart, where this series of arcsin is exact to
    # 1e-12 and several times faster; the far ones take the real thing.
    arc = half * (1 + squared * (1 / 6 + squared * (3 / 40 + squared * (5 / 112))))
    far = np.flatnonzero(half > 0.05)
    arc[far] = np.arcsin(np.minimum(half[far], 1.0))
    distance: Floats = 2 * EARTH_RADIUS_KM * arc
    return distance


@dataclass(frozen=True, eq=False)
class _Row:
    """The visits of one level in bucket order, with what the pair checks read, so that
    comparing neighbours reads consecutive memory."""

    bucket: Ints
    flags: Ints
    member: Ints
    age: Ints
    min_age: Ints
    max_age: Ints
    position: Floats  # 3 x n
    reach: Floats
    languages: Words
    interests: Words
    interest_count: Floats
    max_distance_km: Floats
    waiting: Floats  # this member's share of the waiting term

    @classmethod
    def of(cls, people: _Located, bucket: Ints, flags: Ints, member: Ints) -> _Row:
        waited = np.clip(people.waited_seconds[member], 0.0, WAIT_SATURATION_SECONDS)
        return cls(
            bucket=bucket,
            flags=flags,
            member=member,
            age=people.age[member],
            min_age=people.min_age[member],
            max_age=people.max_age[member],
            position=people.position[:, member],
            reach=people.reach[member],
            languages=people.languages[:, member],
            interests=people.interests[:, member],
            interest_count=people.interest_count[member].astype(np.float64),
            max_distance_km=people.max_distance_km[member],
            waiting=waited * (WAITING_WEIGHT / (2 * WAIT_SATURATION_SECONDS)),
        )


def _neighbour_keys(row: _Row, k: int, n: int, pair_bits: int) -> Ints:
    """The keys of the compatible pairs of visits k apart in the row, scored."""
    a, b = slice(None, -k), slice(k, None)
    # Cheap checks on the whole row first, the rest only on the pairs that pass them.
    ok = (row.bucket[a] == row.bucket[b]) & ((row.flags[a] | row.flags[b]) == _ALL_FLAGS)
    ok &= (row.age[b] >= row.min_age[a]) & (row.age[b] <= row.max_age[a])
    ok &= (row.age[a] >= row.min_age[b]) & (row.age[a] <= row.max_age[b])
    i = np.flatnonzero(ok)
    j = i + k
    squared = np.zeros(len(i))
    for axis in row.position:
        squared += np.square(axis[i] - axis[j])
    reach = np.minimum(row.reach[i], row.reach[j])
    ok = squared <= reach * reach
    speak = np.zeros(len(i), dtype=bool)
    for word in row.languages:
        speak |= (word[i] & word[j]) != 0
    ok &= speak
    keep = np.flatnonzero(ok)
    i, j, chord = i[keep], j[keep], np.sqrt(squared[keep])
    shared = np.zeros(len(i))
    for word in row.interests:
        shared += np.bitwise_count(word[i] & word[j])
    union = row.interest_count[i] + row.interest_count[j] - shared
    similarity = shared / np.maximum(union, 1.0)  # 0 when neither lists any
    limit = np.minimum(row.max_distance_km[i], row.max_distance_km[j])
    closeness = np.clip(1.0 - _arc_km(chord) / np.maximum(limit, 1e-9), 0.0, 1.0)
    scores = (
        INTEREST_WEIGHT * similarity
        + CLOSENESS_WEIGHT * closeness
        + (row.waiting[i] + row.waiting[j])
    )
    return _rank_keys(scores, _pair_numbers(row.member[i], row.member[j], n), pair_bits)


def _level_keys(
    people: _Located, entries: _Entries, level: int, window: int, pair_bits: int
) -> list[Ints]:
    """Compatible pairs found at one level, scored: neighbours in each bucket's sorted order.

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
        [
            (visits.channel, 4),
            (morton >> coarse, 3 * _FINE_BITS - coarse),
            (age_key, _AGE_KEY_BITS),
            (people.interest_signature[visits.person], _SIGNATURE_BITS),
        ]
    )
    # A bucket: one gender pairing in one cell of this level.
    bucket = visits.channel[order] << (3 * _FINE_BITS) | morton[order] >> (3 * shift)
    row = _Row.of(people, bucket, visits.flags[order], visits.person[order])
    n = len(people)
    return [
        _neighbour_keys(row, k, n, pair_bits) for k in range(1, min(window, len(order) - 1) + 1)
    ]


def _candidate_keys(people: _Located, window: int) -> _Ranked:
    """Compatible pairs worth considering, scored: nearby in a shared bucket."""
    entries = _Entries.of(people)
    pair_bits = _pair_bits(len(people))
    found = [np.empty(0, np.int64)]
    for level in np.unique(people.level):
        found += _level_keys(people, entries, int(level), window, pair_bits)
    return _Ranked(np.concatenate(found), pair_bits)


def _pair_numbers(p: Ints, q: Ints, n: int) -> Ints:
    """One number per unordered pair of members (the same whichever comes first)."""
    pair: Ints = np.minimum(p, q) * n + np.maximum(p, q)
    return pair


def _excluded_pairs(
    snapshot: QueueSnapshot, people: _Located, excluded: Collection[frozenset[uuid.UUID]]
) -> Ints:
    """The sorted pair numbers of the excluded pairs whose members are both located and queued."""
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


def _without(ranked: _Ranked, barred: Ints, n: int) -> _Ranked:
    """The candidates that are not barred pairs."""
    if not barred.size:
        return ranked
    pairs = ranked.keys & ((1 << ranked.pair_bits) - 1)
    # Only pairs of two members who have exclusions at all need the search.
    involved = np.zeros(n, dtype=bool)
    involved[barred // n] = involved[barred % n] = True
    suspect = np.flatnonzero(involved[pairs // n] & involved[pairs % n])
    at = np.minimum(np.searchsorted(barred, pairs[suspect]), len(barred) - 1)
    keep = np.ones(len(pairs), dtype=bool)
    keep[suspect[barred[at] == pairs[suspect]]] = False
    return _Ranked(ranked.keys[keep], ranked.pair_bits)


def _pair_scores(people: _Located, p: Ints, q: Ints) -> tuple[Floats, Floats]:
    """The score and the great-circle distance of each pair, as `score` defines them."""
    squared = np.zeros(len(p))
    for axis in people.position:
        squared += np.square(axis[p] - axis[q])
    distance = _arc_km(np.sqrt(squared))
    shared = np.zeros(len(p), dtype=np.int64)
    for word in people.interests:
        shared += np.bitwise_count(word[p] & word[q])
    union = people.interest_count[p] + people.interest_count[q] - shared
    similarity = np.divide(shared, union, out=np.zeros(len(p)), where=union > 0)
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


def _greedy_matching(ranked: _Ranked, n: int) -> Ints:
    """The pair numbers a best-key-first greedy takes.

    A locally dominant pair (the best remaining pair of both its members) is one the
    sequential greedy takes, so each round takes all of them at once, vectorised.
    """
    key = ranked.keys
    pairs = key & ((1 << ranked.pair_bits) - 1)
    p, q = pairs // n, pairs % n
    best = np.full(n, -1, dtype=np.int64)
    matched = np.zeros(n, dtype=bool)
    taken = [np.empty(0, np.int64)]
    while key.size:
        np.maximum.at(best, p, key)
        np.maximum.at(best, q, key)
        won = np.flatnonzero((best[p] == key) & (best[q] == key))
        matched[p[won]] = matched[q[won]] = True
        taken.append(pairs[won])
        best[p] = best[q] = -1
        alive = np.flatnonzero(~(matched[p] | matched[q]))
        key, pairs, p, q = key[alive], pairs[alive], p[alive], q[alive]
    # A pair found in two buckets has the same key twice and is taken twice in one round.
    chosen = np.sort(np.concatenate(taken))
    once: Ints = chosen[np.flatnonzero(np.diff(chosen, prepend=-1))]
    return once


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pauses the cyclic garbage collector (restored as it was on leaving).

    Making tens of thousands of small objects otherwise wakes it over and over, and each
    full pass walks every object the process holds, not just these.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


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
    n = len(people)
    if n < 2:
        return []
    ranked = _without(
        _candidate_keys(people, window), _excluded_pairs(snapshot, people, excluded), n
    )
    chosen = _greedy_matching(ranked, n)
    p, q = chosen // n, chosen % n
    scores, distances = _pair_scores(people, p, q)
    best_first = np.lexsort((chosen, -scores))
    user_ids = snapshot.user_ids
    firsts = map(user_ids.__getitem__, people.index[p[best_first]].tolist())
    seconds = map(user_ids.__getitem__, people.index[q[best_first]].tolist())
    # tuple.__new__ skips the Python-level constructor: tens of thousands of these a tick.
    make = partial(tuple.__new__, Pairing)
    with _collector_paused():
        return list(
            map(
                make,
                zip(
                    zip(firsts, seconds, strict=True),
                    scores[best_first].tolist(),
                    distances[best_first].tolist(),
                    strict=True,
                ),
            )
        )
