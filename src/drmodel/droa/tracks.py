"""The tracks DeepRacer on AWS accepts as WORLD_NAME, and the directions each may be driven in.

Data from aws-solutions/deepracer-on-aws @ 61af778f, source/libs/config/src/data/tracks.json (`trackId`,
`enabledDirections`, `defaultDirection`; 62 tracks). The import reads the direction in
source/libs/lambda/src/import-workflow/utils/ImportHelper.ts#L238-L259: a track with one enabled direction is
always driven in it (TRACK_DIRECTION_CLOCKWISE is ignored); on a two-direction track the direction is CLOCKWISE
only when TRACK_DIRECTION_CLOCKWISE is the YAML boolean true.
"""

CLOCKWISE, COUNTER_CLOCKWISE = "CLOCKWISE", "COUNTER_CLOCKWISE"

# Both directions enabled; every one's default is COUNTER_CLOCKWISE except reInvent2019_wide's (CLOCKWISE).
TWO_DIRECTIONS: frozenset[str] = frozenset("""
2024_reinvent_champ 2022_april_open 2022_april_pro 2022_august_open 2022_august_pro 2022_july_pro 2022_june_open
2022_june_pro 2022_march_open 2022_march_pro 2022_may_open 2022_may_pro 2022_october_open 2022_october_pro
2022_reinvent_champ 2022_september_open 2022_september_pro 2022_summit_speedway arctic_open arctic_pro dubai_open
jyllandsringen_open jyllandsringen_pro penbay_open penbay_pro red_star_pro reInvent2019_track reInvent2019_wide
thunder_hill_pro
""".split())
CLOCKWISE_ONLY: frozenset[str] = frozenset("Albert Aragon Belille FS_June2020 July_2020 Monaco Monaco_building "
                                           "Spain_track".split())
COUNTER_CLOCKWISE_ONLY: frozenset[str] = frozenset("""
2022_july_open AmericasGeneratedInclStart Austin Bowtie_track caecer_gp caecer_loop Canada_Training China_track
dubai_pro hamption_open hamption_pro LGSWide Mexico_track morgan_open morgan_pro New_York_Track Oval_track
red_star_open reinvent_base Singapore Singapore_building thunder_hill_open Tokyo_Training_track Vegas_track
Virtual_May19_Train_track
""".split())

TRACK_IDS: frozenset[str] = TWO_DIRECTIONS | CLOCKWISE_ONLY | COUNTER_CLOCKWISE_ONLY


def enabled_directions(track_id: str) -> tuple[str, ...]:
    """The directions DRoA allows on the track (empty for an unknown track)."""
    if track_id in TWO_DIRECTIONS:
        return (CLOCKWISE, COUNTER_CLOCKWISE)
    if track_id in CLOCKWISE_ONLY:
        return (CLOCKWISE,)
    if track_id in COUNTER_CLOCKWISE_ONLY:
        return (COUNTER_CLOCKWISE,)
    return ()


def default_direction(track_id: str) -> str | None:
    if track_id == "reInvent2019_wide" or track_id in CLOCKWISE_ONLY:
        return CLOCKWISE
    return COUNTER_CLOCKWISE if track_id in TRACK_IDS else None
