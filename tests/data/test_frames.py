"""Frame extraction on real encoded videos of the kinds found in UCF101, HMDB51 and Kinetics."""

from __future__ import annotations

import errno
import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from tests.data.videos import decoded_frames, make_video, truncate
from timebalance.data import frames as fr
from timebalance.data.frames import extract_frames, extract_shard, shard_of
from timebalance.data.manifest import (
    MANIFEST_COLUMNS,
    ExtractionError,
    merge_manifests,
    read_manifest,
)

# name -> make_video keyword arguments
KINDS = {
    "bframes.avi": {"n_frames": 30, "args": ("-bf", "2", "-q:v", "3")},
    # libx264 B-frames give negative DTS; the offset makes the first PTS negative (edit list).
    "negstart.mp4": {
        "codec": "libx264",
        "args": ("-bf", "2", "-avoid_negative_ts", "disabled", "-output_ts_offset", "-0.5"),
    },
    # The same in Matroska: frames with missing / non-monotonic timestamps; a plain
    # `ffmpeg -i X %05d.jpg` writes only 13 of the 20 frames.
    "negstart.mkv": {
        "codec": "libx264",
        "args": ("-bf", "2", "-avoid_negative_ts", "disabled", "-output_ts_offset", "-0.5"),
    },
    "odd.avi": {"size": "56x24"},
    "sar2.mp4": {"codec": "libx264", "vf": "setsar=2"},
    "six_fps.avi": {"rate": 6, "n_frames": 12},
}


@pytest.fixture(scope="module")
def vids(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("videos")
    out = {name: make_video(d / name, **kw) for name, kw in KINDS.items()}
    out["long.avi"] = make_video(d / "long.avi", size="64x48", n_frames=40, args=("-q:v", "2"))
    out["long.mp4"] = make_video(
        d / "long.mp4", n_frames=60, codec="libx264", args=("-g", "10", "-movflags", "+faststart")
    )
    return out


def jpgs(d: Path) -> list[str]:
    return sorted(p.name for p in d.glob("*.jpg"))


def assert_complete(d: Path, n: int) -> None:
    assert jpgs(d) == [f"{i:05d}.jpg" for i in range(1, n + 1)]
    assert json.loads((d / "meta.json").read_text())["n_frames"] == n
    assert not [p for p in d.parent.iterdir() if p.name.startswith(".")]  # no temp folder


@pytest.mark.parametrize("name", list(KINDS))
def test_frame_count_equals_ffmpeg_decoded_count(vids, tmp_path, name):
    res = extract_frames(vids[name], tmp_path / "f")
    assert res["status"] == "ok", res
    assert res["n_frames"] == decoded_frames(vids[name]) > 0
    assert_complete(tmp_path / "f", res["n_frames"])


def test_negative_start_mkv_keeps_every_frame(vids, tmp_path):
    assert extract_frames(vids["negstart.mkv"], tmp_path / "f")["n_frames"] == 20


def test_sizes_and_fps_reported(vids, tmp_path):
    six = extract_frames(vids["six_fps.avi"], tmp_path / "six")
    assert six["fps"] == pytest.approx(6.0) and six["n_frames"] == 12
    odd = extract_frames(vids["odd.avi"], tmp_path / "odd")
    assert (odd["width"], odd["height"]) == (56, 24)


def test_non_square_pixels_use_display_aspect(vids, tmp_path):
    res = extract_frames(vids["sar2.mp4"], tmp_path / "a")  # 32x24 storage, SAR 2 -> 64x24
    assert (res["width"], res["height"]) == (64, 24)
    res = extract_frames(vids["sar2.mp4"], tmp_path / "b", short_side=12)
    assert (res["width"], res["height"]) == (32, 12)
    with Image.open(tmp_path / "b" / "00001.jpg") as im:
        assert im.size == (32, 12)


@pytest.mark.parametrize(
    ("size", "short", "expected"),
    [("56x24", 12, (28, 12)), ("24x56", 12, (12, 28)), ("50x24", 10, (20, 10))],
)
def test_short_side_resize_keeps_aspect_and_even_sizes(tmp_path, size, short, expected):
    v = make_video(tmp_path / "v.avi", size=size, n_frames=3)
    res = extract_frames(v, tmp_path / "f", short_side=short)
    assert (res["width"], res["height"]) == expected and res["n_frames"] == 3
    with Image.open(tmp_path / "f" / "00003.jpg") as im:
        assert im.size == expected


def test_output_size_rules():
    assert fr.output_size(560, 240, 1.0, None) is None
    assert fr.output_size(1920, 1080, 1.0, 128) == (228, 128)
    assert fr.output_size(560, 240, 1.0, 128) == (298, 128)
    assert fr.output_size(720, 576, 16 / 15, 112) == (150, 112)  # 768x576 displayed


def test_fps_resampling(vids, tmp_path):
    res = extract_frames(vids["bframes.avi"], tmp_path / "f", fps=10)  # 30 frames = 1.2 s
    assert res["status"] == "ok" and res["n_frames"] == 12 and res["fps"] == pytest.approx(25)
    assert_complete(tmp_path / "f", 12)


@pytest.mark.parametrize("name", ["long.avi", "long.mp4"])
def test_truncated_file_keeps_decoded_frames(vids, tmp_path, name):
    cut = truncate(vids[name], tmp_path / f"cut{Path(name).suffix}")
    res = extract_frames(cut, tmp_path / "f")
    assert res["status"] == "truncated" and res["reason"], res
    assert 0 < res["n_frames"] < decoded_frames(vids[name])
    assert res["n_frames"] == decoded_frames(cut)
    assert_complete(tmp_path / "f", res["n_frames"])


def test_bad_inputs_are_reported_not_raised(tmp_path):
    (tmp_path / "zero.avi").write_bytes(b"")
    (tmp_path / "text.avi").write_text("this is not a video\n")
    (tmp_path / "audio.wav").write_bytes(_wav())
    expected = {"zero.avi": "empty", "text.avi": "corrupt", "missing.avi": "missing"}
    expected["audio.wav"] = "empty"
    for name, status in expected.items():
        res = extract_frames(tmp_path / name, tmp_path / "out" / name)
        assert res["status"] == status and res["reason"] and res["n_frames"] == 0, (name, res)
    assert not list(tmp_path.glob("out/**/*"))  # no frame folder, no temporary folder


def _wav() -> bytes:
    """0.1 s of silence as a PCM WAV file: a valid media file without a video stream."""
    data = b"\0\0" * 800
    hdr = b"RIFF" + (36 + len(data)).to_bytes(4, "little") + b"WAVEfmt "
    hdr += (16).to_bytes(4, "little") + (1).to_bytes(2, "little") + (1).to_bytes(2, "little")
    hdr += (8000).to_bytes(4, "little") + (16000).to_bytes(4, "little")
    hdr += (2).to_bytes(2, "little") + (16).to_bytes(2, "little")
    return hdr + b"data" + len(data).to_bytes(4, "little") + data


def test_name_starting_with_dash_is_not_an_option(vids, tmp_path, monkeypatch):
    (tmp_path / "-h.avi").write_bytes(vids["odd.avi"].read_bytes())  # Kinetics ids look so
    monkeypatch.chdir(tmp_path)
    res = extract_frames("-h.avi", "-h")
    assert res["status"] == "ok" and res["n_frames"] == 20
    assert_complete(tmp_path / "-h", 20)


def test_special_characters_in_names(vids, tmp_path):
    name = "v_(Hand)stand!_#1[a]&b+c;d~e@f%05d_g"  # HMDB-style, plus a printf pattern
    res = extract_frames(vids["odd.avi"], tmp_path / "Cls" / name)
    assert res["status"] == "ok"
    assert_complete(tmp_path / "Cls" / name, 20)


def test_existing_output_is_replaced_atomically(vids, tmp_path):
    out = tmp_path / "f"
    out.mkdir()
    (out / "99999.jpg").write_bytes(b"stale")
    res = extract_frames(vids["six_fps.avi"], out)
    assert_complete(out, res["n_frames"])
    # A video that yields nothing removes the stale folder: the manifest is the truth.
    extract_frames(tmp_path / "missing.avi", out)
    assert not out.exists()


def test_shard_of_is_a_fixed_hash():
    for vid in ["ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01", "abseiling/-abc123_000010_000020"]:
        for n in (1, 3, 7):
            assert shard_of(vid, n) == int(hashlib.sha1(vid.encode()).hexdigest()[:8], 16) % n
    assert shard_of("Cls/v_a", 4) == 2  # pinned: a change would reshuffle every dataset
    with pytest.raises(ValueError):
        shard_of("x", 0)


def _index(videos: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "video": videos,
            "label": range(len(videos)),
            "class_name": [v.split("/")[0] for v in videos],
            "subset": "train",
        }
    )


@pytest.fixture()
def dataset(vids, tmp_path) -> tuple[Path, list[str]]:
    root = tmp_path / "ds"
    names = [f"C{i % 2}/v_{i}.avi" for i in range(6)]
    for i, name in enumerate(names[:-1]):  # the last one is missing
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(vids["six_fps.avi" if i % 2 else "odd.avi"].read_bytes())
    return root, names


def test_extract_shard_and_merge(dataset, tmp_path, monkeypatch):
    root, names = dataset
    index, fr_root = _index(names), tmp_path / "frames"
    parts = [
        extract_shard(index, root, fr_root, s, 3, short_side=12, fps=None, workers=2)
        for s in range(3)
    ]
    for s, part in enumerate(parts):
        assert list(part.columns) == MANIFEST_COLUMNS
        assert all(shard_of(v, 3) == s for v in part["video_id"])
    merged = merge_manifests(parts, tmp_path / "m.csv", max_bad_fraction=0.2)
    assert list(merged["video"]) == sorted(names)
    assert merged.set_index("video").loc[names[-1], "status"] == "missing"
    back = read_manifest(tmp_path / "m.csv")
    pd.testing.assert_frame_equal(back, merged, check_dtype=False)
    ok = merged[merged["status"] == "ok"]
    assert (ok["height"] == 12).all() and set(ok["n_frames"]) == {12, 20}

    # Re-running reuses complete folders and redoes only what is missing.
    victim = fr_root / merged["video_id"][0]
    for p in victim.iterdir():
        p.unlink()  # a crash before meta.json was written
    calls = []
    real = fr.extract_frames
    monkeypatch.setattr(fr, "extract_frames", lambda v, *a: calls.append(v) or real(v, *a))
    again = [extract_shard(index, root, fr_root, s, 3, short_side=12, fps=None) for s in range(3)]
    assert sorted(Path(c).name for c in calls) == sorted(["v_0.avi", "v_5.avi"])
    again = pd.concat(again).sort_values("video").reset_index(drop=True)
    pd.testing.assert_frame_equal(again, merged, check_dtype=False)
    # Other parameters are not reused.
    calls.clear()
    extract_shard(index, root, fr_root, 0, 1, short_side=16, fps=None)
    assert len(calls) == len(names)


def test_shard_membership_does_not_depend_on_other_videos(dataset, tmp_path):
    root, names = dataset
    small = extract_shard(_index(names[:3]), root, tmp_path / "a", 0, 2, short_side=None, fps=None)
    big = extract_shard(_index(names), root, tmp_path / "b", 0, 2, short_side=None, fps=None)
    assert len(small) == 3 and len(big) == 5
    assert set(small["video"]) == set(big["video"]) & set(names[:3])


def test_merge_fails_above_bad_fraction_and_names_videos(tmp_path):
    rows = [
        {"video": f"C/v_{i:02d}.avi", "video_id": f"C/v_{i:02d}", "label": 0, "class_name": "NA"}
        | {"subset": "train", "n_frames": 0, "width": 0, "height": 0, "fps": float("nan")}
        | {"status": "corrupt", "reason": f"broken {i}"}
        for i in range(25)
    ]
    for row in rows[:3]:
        row.update(status="truncated", n_frames=5)
    df = pd.DataFrame(rows)
    with pytest.raises(ExtractionError) as err:
        merge_manifests([df.iloc[:10], df.iloc[10:]], tmp_path / "m.csv", max_bad_fraction=0.5)
    msg = str(err.value)
    assert "22 of 25" in msg and "C/v_03.avi: corrupt (broken 3)" in msg
    assert "and 2 more" in msg and "truncated" not in msg
    assert not (tmp_path / "m.csv").exists()
    ok = merge_manifests([df.iloc[:3]], tmp_path / "m.csv", max_bad_fraction=0.0)
    assert len(ok) == 3
    assert (read_manifest(tmp_path / "m.csv")["class_name"] == "NA").all()
    with pytest.raises(ValueError, match="more than one"):
        merge_manifests([df.iloc[:3], df.iloc[2:4]], tmp_path / "m.csv", max_bad_fraction=1)


def test_programmer_errors_raise(vids, tmp_path):
    with pytest.raises(ValueError, match="quality"):
        extract_frames(vids["odd.avi"], tmp_path / "f", quality=0)
    with pytest.raises(ValueError, match="short_side"):
        extract_frames(vids["odd.avi"], tmp_path / "f", short_side=0)
    with pytest.raises(ValueError, match=r"\.\."):
        extract_shard(_index(["../x.avi"]), tmp_path, tmp_path, 0, 1, short_side=None, fps=None)
    with pytest.raises(ValueError, match="same id"):
        extract_shard(
            _index(["a/x.avi", "a/x.mp4"]), tmp_path, tmp_path, 0, 1, short_side=None, fps=None
        )


def _disk_fills_after(n_frames: int):
    """A stand-in for ffmpeg that runs the real one, then keeps only the first ``n_frames``
    frames and fails as ffmpeg does when the disk fills up (ENOSPC)."""
    real = fr._ffmpeg

    def ffmpeg(args):
        proc = real(args)
        out_dir = Path(args[-1].removeprefix("file:")).parent
        for frame in sorted(out_dir.glob("*.jpg"))[n_frames:]:
            frame.unlink()
        message = b"[image2 @ 0x5581] Could not open file : No space left on device\n"
        return type(proc)(args, 1, proc.stdout, proc.stderr + message)

    return ffmpeg


@pytest.mark.parametrize("written", [3, 0])
def test_a_full_disk_fails_the_shard_instead_of_truncating(vids, tmp_path, monkeypatch, written):
    """Frames cut short by ENOSPC are the disk's fault, not the video's: the shard fails with
    an error naming the folder (a rerun redoes the video), nothing is recorded (issue 10)."""
    index = _index(["C0/v_0.avi"])
    root = tmp_path / "ds"
    (root / "C0").mkdir(parents=True)
    (root / "C0/v_0.avi").write_bytes(vids["long.avi"].read_bytes())
    monkeypatch.setattr(fr, "_ffmpeg", _disk_fills_after(written))
    with pytest.raises(OSError, match=r"no space left on the device while writing .*C0/v_0") as err:
        extract_shard(index, root, tmp_path / "frames", 0, 1, short_side=None, fps=None)
    assert err.value.errno == errno.ENOSPC
    assert not (tmp_path / "frames" / "C0" / "v_0").exists()
    assert not [p for p in (tmp_path / "frames" / "C0").iterdir()]  # no temp folder left


def test_a_failed_frame_folder_write_fails_the_shard(vids, tmp_path, monkeypatch):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(fr.io, "write_text", full)  # meta.json, the folder's last file
    index = _index(["C0/v_0.avi"])
    (tmp_path / "ds" / "C0").mkdir(parents=True)
    (tmp_path / "ds" / "C0/v_0.avi").write_bytes(vids["long.avi"].read_bytes())
    with pytest.raises(OSError, match=r"while writing .*C0/v_0"):
        extract_shard(index, tmp_path / "ds", tmp_path / "frames", 0, 1, short_side=None, fps=None)
