"""Track ids DeepRacer on AWS accepts as WORLD_NAME (aws-solutions/deepracer-on-aws,
source/libs/model/src/main/smithy/types/tracks.smithy, enum TrackId)."""

TRACK_IDS: frozenset[str] = frozenset("""
reInvent2019_wide 2022_april_open 2022_april_pro Austin Singapore Singapore_building Vegas_track
AmericasGeneratedInclStart dubai_pro dubai_open Bowtie_track 2022_june_open 2022_june_pro Spain_track
jyllandsringen_pro jyllandsringen_open Mexico_track Belille 2022_july_open 2022_july_pro New_York_Track Monaco
Monaco_building red_star_open red_star_pro 2024_reinvent_champ FS_June2020 arctic_open arctic_pro 2022_october_open
2022_october_pro 2022_august_pro 2022_august_open hamption_open hamption_pro Tokyo_Training_track thunder_hill_pro
thunder_hill_open Virtual_May19_Train_track Oval_track morgan_open morgan_pro penbay_open penbay_pro reinvent_base
2022_reinvent_champ 2022_summit_speedway July_2020 2022_september_open 2022_september_pro 2022_march_open
2022_march_pro 2022_may_open 2022_may_pro China_track reInvent2019_track LGSWide Aragon Canada_Training caecer_loop
caecer_gp Albert
""".split())
