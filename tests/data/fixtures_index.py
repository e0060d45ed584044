"""Writers of annotation trees in the on-disk formats of UCF101, HMDB51 and Kinetics-400.

Each writer reproduces the real files' layout and quirks (CRLF line endings and a trailing
empty line in UCF101's lists, the HandstandPushups / HandStandPushups case mismatch, HMDB's
odd characters and trailing spaces, Kinetics' quoted labels, extra ``is_cc`` column and both
spellings of the validation split) and returns the rows a correct reader must produce, as
(video, label, class_name, subset) tuples, computed independently of the reader. Videos are
not written unless asked: the adapters read annotation files only.
"""

from __future__ import annotations

import random
from pathlib import Path

Row = tuple[str, int, str, str]

# The 101 UCF101 classes in the order of the real classInd.txt (case-insensitive alphabetical).
UCF101_CLASSES = (
    "ApplyEyeMakeup", "ApplyLipstick", "Archery", "BabyCrawling", "BalanceBeam", "BandMarching",
    "BaseballPitch", "Basketball", "BasketballDunk", "BenchPress", "Biking", "Billiards",
    "BlowDryHair", "BlowingCandles", "BodyWeightSquats", "Bowling", "BoxingPunchingBag",
    "BoxingSpeedBag", "BreastStroke", "BrushingTeeth", "CleanAndJerk", "CliffDiving",
    "CricketBowling", "CricketShot", "CuttingInKitchen", "Diving", "Drumming", "Fencing",
    "FieldHockeyPenalty", "FloorGymnastics", "FrisbeeCatch", "FrontCrawl", "GolfSwing", "Haircut",
    "Hammering", "HammerThrow", "HandstandPushups", "HandstandWalking", "HeadMassage", "HighJump",
    "HorseRace", "HorseRiding", "HulaHoop", "IceDancing", "JavelinThrow", "JugglingBalls",
    "JumpingJack", "JumpRope", "Kayaking", "Knitting", "LongJump", "Lunges", "MilitaryParade",
    "Mixing", "MoppingFloor", "Nunchucks", "ParallelBars", "PizzaTossing", "PlayingCello",
    "PlayingDaf", "PlayingDhol", "PlayingFlute", "PlayingGuitar", "PlayingPiano", "PlayingSitar",
    "PlayingTabla", "PlayingViolin", "PoleVault", "PommelHorse", "PullUps", "Punch", "PushUps",
    "Rafting", "RockClimbingIndoor", "RopeClimbing", "Rowing", "SalsaSpin", "ShavingBeard",
    "Shotput", "SkateBoarding", "Skiing", "Skijet", "SkyDiving", "SoccerJuggling", "SoccerPenalty",
    "StillRings", "SumoWrestling", "Surfing", "Swing", "TableTennisShot", "TaiChi", "TennisSwing",
    "ThrowDiscus", "TrampolineJumping", "Typing", "UnevenBars", "VolleyballSpiking",
    "WalkingWithDog", "WallPushups", "WritingOnBoard", "YoYo"
)  # fmt: skip
# The real files of this class spell it differently from its folder.
UCF101_FILE_CASE = {"HandstandPushups": "HandStandPushups"}

HMDB51_CLASSES = (
    "brush_hair", "cartwheel", "catch", "chew", "clap", "climb", "climb_stairs", "dive",
    "draw_sword", "dribble", "drink", "eat", "fall_floor", "fencing", "flic_flac", "golf",
    "handstand", "hit", "hug", "jump", "kick", "kick_ball", "kiss", "laugh", "pick", "pour",
    "pullup", "punch", "push", "pushup", "ride_bike", "ride_horse", "run", "shake_hands",
    "shoot_ball", "shoot_bow", "shoot_gun", "sit", "situp", "smile", "smoke", "somersault",
    "stand", "swing_baseball", "sword", "sword_exercise", "talk", "throw", "turn", "walk", "wave"
)  # fmt: skip
# Stems of HMDB-like names: every special character of the real names, and spaces.
HMDB_ODD_STEMS = (
    "(Tony)_Hawk", "Wow!_jump", "#1_best", "[HD]_clip", "Tom_&_Jerry", "A+B", "semi;colon",
    "~tilde~", "mail@home", "it's_-_ok", "a,b%c=d", "two  spaces here", "plain",
)  # fmt: skip

# Kinetics-like labels: real quirks (quotes, apostrophes, parentheses) and commas.
KINETICS_QUIRKY_LABELS = (
    "abseiling", "air drumming", "massaging person's head", "tying knot (not on a tie)",
    "passing American football (in game)", "passing American football (not in game)",
    "dancing, gangnam style", "using remote controller (not gaming)", "yoga",
)  # fmt: skip


def write_lines(
    path: Path, lines: list[str], newline: str = "\n", trailing_blank: bool = False
) -> None:
    """Write ``lines`` with the given line ending (and an empty last line if asked)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(line + newline for line in lines) + (newline if trailing_blank else "")
    path.write_bytes(text.encode("utf-8"))


def edit_line(path: Path, number: int, text: str | None) -> None:
    """Replace line ``number`` (1-based) of a file, keeping its line ending; None deletes it."""
    lines = path.read_bytes().decode("utf-8").split("\n")
    ending = "\r" if lines[number - 1].endswith("\r") else ""
    if text is None:
        del lines[number - 1]
    else:
        lines[number - 1] = text + ending
    path.write_bytes("\n".join(lines).encode("utf-8"))


def _spread(total: int, slots: list) -> dict:
    """Give each slot total // n items, the first total % n slots one more."""
    base, extra = divmod(total, len(slots))
    return {slot: base + (i < extra) for i, slot in enumerate(slots)}


def write_ucf101(
    root: Path,
    *,
    classes: tuple[str, ...] | list[str] = UCF101_CLASSES,
    train_total: int = 9537,
    test_total: int = 3783,
    newline: str = "\r\n",
    trailing_blank: bool = True,
    videos_dir: str = "UCF-101",
    annotations_dir: str = "ucfTrainTestlist",
    touch_videos: bool = False,
) -> dict[int, list[Row]]:
    """UCF101 layout with 25 groups per class; split s tests groups 7(s-1)+1 .. 7s.

    Clip counts are spread so that split 1 has exactly ``train_total`` / ``test_total``
    videos (the real split 1: 9537 / 3783). Returns the expected rows of splits 1, 2, 3.
    """
    ann = Path(root) / annotations_dir
    write_lines(ann / "classInd.txt", [f"{i + 1} {c}" for i, c in enumerate(classes)], newline)
    test_groups = [(c, g) for c in range(len(classes)) for g in range(1, 8)]
    train_groups = [(c, g) for c in range(len(classes)) for g in range(8, 26)]
    clips = {**_spread(test_total, test_groups), **_spread(train_total, train_groups)}
    videos = []  # (class index, group, list path)
    for (c, g), n in sorted(clips.items()):
        stem = UCF101_FILE_CASE.get(classes[c], classes[c])
        videos += [(c, g, f"{classes[c]}/v_{stem}_g{g:02d}_c{k:02d}.avi") for k in range(1, n + 1)]
    expected: dict[int, list[Row]] = {}
    for split in (1, 2, 3):
        test = set(range(7 * (split - 1) + 1, 7 * split + 1))
        train_lines = [f"{p} {c + 1}" for c, g, p in videos if g not in test]
        test_lines = [p for c, g, p in videos if g in test]
        write_lines(ann / f"trainlist{split:02d}.txt", train_lines, newline, trailing_blank)
        write_lines(ann / f"testlist{split:02d}.txt", test_lines, newline, trailing_blank)
        prefix = f"{videos_dir}/" if videos_dir else ""
        expected[split] = [
            (prefix + p, c, classes[c], "test" if g in test else "train") for c, g, p in videos
        ]
    if touch_videos:
        for _, _, p in videos:
            (Path(root) / videos_dir / p).parent.mkdir(parents=True, exist_ok=True)
            (Path(root) / videos_dir / p).touch()
    return expected


def write_hmdb51(
    root: Path,
    *,
    classes: tuple[str, ...] | list[str] = HMDB51_CLASSES,
    n_train: int = 70,
    n_test: int = 30,
    n_unused: int = 3,
    newline: str = "\n",
    videos_dir: str = "",
    annotations_dir: str = "testTrainMulti_7030_splits",
    touch_videos: bool = False,
) -> dict[int, list[Row]]:
    """HMDB51 layout: ``<class>_test_split<N>.txt`` lines "name.avi 1|2|0 " (trailing space).

    Every class has the same videos in the three splits; each split rotates which of them are
    train (1), test (2) and unused (0). Returns the expected rows of splits 1, 2, 3.
    """
    ann = Path(root) / annotations_dir
    n = n_train + n_test + n_unused
    expected: dict[int, list[Row]] = {1: [], 2: [], 3: []}
    prefix = f"{videos_dir}/" if videos_dir else ""
    for label, cls in enumerate(sorted(classes)):
        names = [f"{HMDB_ODD_STEMS[i % len(HMDB_ODD_STEMS)]}_{cls}_f_nm_np1_fr_med_{i}.avi"
                 for i in range(n)]  # fmt: skip
        for split in (1, 2, 3):
            flags = []
            for i, name in enumerate(names):
                position = (i + 17 * (split - 1)) % n
                flag = 1 if position < n_train else 2 if position < n_train + n_test else 0
                flags.append(f"{name} {flag} ")
                if flag:
                    subset = "train" if flag == 1 else "test"
                    expected[split].append((f"{prefix}{cls}/{name}", label, cls, subset))
            write_lines(ann / f"{cls}_test_split{split}.txt", flags, newline)
        if touch_videos:
            for name in names:
                (Path(root) / videos_dir / cls).mkdir(parents=True, exist_ok=True)
                (Path(root) / videos_dir / cls / name).touch()
    return expected


def kinetics_labels(n_classes: int) -> list[str]:
    """``n_classes`` labels: the quirky real-looking ones, then "synthetic action NNN"."""
    quirky = list(KINETICS_QUIRKY_LABELS[:n_classes])
    return quirky + [f"synthetic action {i:03d}" for i in range(n_classes - len(quirky))]


def _csv_field(text: str) -> str:
    # The real files quote every multi-word label; a quote inside is doubled.
    needs = any(ch in text for ch in ' ,"')
    return '"' + text.replace('"', '""') + '"' if needs else text


def write_kinetics400(
    root: Path,
    *,
    n_classes: int = 400,
    train_rows: int = 0,
    val_rows: int = 19906,
    val_name: str = "validate.csv",
    annotations_dir: str = "annotations",
    seed: int = 0,
) -> dict[str, list[tuple[str, str, int, int]]]:
    """Kinetics-400 csvs ``label,youtube_id,time_start,time_end,split,is_cc`` (+ test.csv).

    Rows go round-robin over the classes; ids are 11 characters, some starting with '-';
    times alternate "14" / "14.0"; validation rows alternate 'val' / 'validate'. No train
    csv when ``train_rows`` is 0. Returns {"train": rows, "test": rows} of
    (label, youtube_id, time_start, time_end).
    """
    rng = random.Random(seed)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
    labels = kinetics_labels(n_classes)
    ann = Path(root) / annotations_dir
    used: set[str] = set()
    out: dict[str, list[tuple[str, str, int, int]]] = {}
    for subset, name, count in (("train", "train.csv", train_rows), ("test", val_name, val_rows)):
        if not count:
            continue
        lines, out[subset] = ["label,youtube_id,time_start,time_end,split,is_cc"], []
        for i in range(count):
            youtube_id = ""
            while not youtube_id or youtube_id in used:
                first = "-" if i % 7 == 0 else rng.choice(alphabet)
                youtube_id = first + "".join(rng.choice(alphabet) for _ in range(10))
            used.add(youtube_id)
            start = rng.randrange(0, 300)
            times = (f"{start}", f"{start + 10}") if i % 2 else (f"{start}.0", f"{start + 10}.0")
            split = "train" if subset == "train" else ("val", "validate")[i % 2]
            label = labels[i % n_classes]
            lines.append(f"{_csv_field(label)},{youtube_id},{times[0]},{times[1]},{split},{i % 2}")
            out[subset].append((label, youtube_id, start, start + 10))
        write_lines(ann / name, lines)
    write_lines(ann / "test.csv", ["youtube_id,time_start,time_end,split", "-abcdefghij,0,10,test"])
    return out


def kinetics_expected(
    rows: dict[str, list[tuple[str, str, int, int]]], dirs: dict[str, str] | None = None
) -> list[Row]:
    """Expected index rows under the default path template and ``raw`` label folders."""
    dirs = dirs or {"train": "train", "test": "val"}
    classes = sorted({r[0] for r in rows.get("train", rows.get("test", []))})
    label_of = {name: i for i, name in enumerate(classes)}
    return [
        (f"{dirs[s]}/{lab}/{yid}_{a:06d}_{b:06d}.mp4", label_of[lab], lab, s)
        for s, records in rows.items()
        for lab, yid, a, b in records
    ]
