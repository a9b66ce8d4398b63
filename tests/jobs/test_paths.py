"""Entry resolution and output naming: everything outside the roots is refused, before any I/O."""

from __future__ import annotations

import pytest

from jobs.paths import Location, UnsafePath, parse_location, render_output_key, resolve_entry

S3_ROOT = Location("s3", "bucket/corpus")
LOCAL_ROOT = Location("file", "/data/corpus")


@pytest.mark.parametrize("entry, expected_uri, rel", [
    ("a.wav", "s3://bucket/corpus/a.wav", "a.wav"),
    ("./sub//b.wav", "s3://bucket/corpus/sub/b.wav", "sub/b.wav"),
    ("s3://bucket/corpus/x/c.flac", "s3://bucket/corpus/x/c.flac", "x/c.flac"),
    ("sp ace%20d.wav", "s3://bucket/corpus/sp ace%20d.wav", "sp ace%20d.wav"),
])
def test_valid_entries(entry, expected_uri, rel):
    loc, got_rel = resolve_entry(entry, base=S3_ROOT, root=S3_ROOT)
    assert loc.uri == expected_uri and got_rel == rel


@pytest.mark.parametrize("entry", [
    "../x.wav", "sub/../../x.wav", "/etc/passwd", "s3://other-bucket/x.wav", "s3://other-bucket/../bucket/corpus/a.wav",
    "s3://bucket/corpus-evil/a.wav", "file:///etc/passwd", "gs://bucket/corpus/a.wav", "%2e%2e/x.wav",
    "%2E%2e/x.wav", "a%2F..%2Fb.wav", "a\\..\\b.wav", "a\x00.wav", "", None, float("nan"), 12, "s3://bucket/corpus",
    "sub/",
])
def test_escapes_refused_on_s3(entry):
    with pytest.raises(UnsafePath):
        resolve_entry(entry, base=S3_ROOT, root=S3_ROOT)


@pytest.mark.parametrize("entry", ["/etc/passwd", "/data/corpus/../secret.wav", "file:///data/other/a.wav",
                                   "s3://bucket/corpus/a.wav", "../corpus2/a.wav"])
def test_escapes_refused_locally(entry):
    with pytest.raises(UnsafePath):
        resolve_entry(entry, base=LOCAL_ROOT, root=LOCAL_ROOT)


def test_local_absolute_and_file_url_inside_root():
    loc, rel = resolve_entry("/data/corpus/a/b.wav", base=LOCAL_ROOT, root=LOCAL_ROOT)
    assert (loc.uri, rel) == ("/data/corpus/a/b.wav", "a/b.wav")
    loc, rel = resolve_entry("file:///data/corpus/c.wav", base=LOCAL_ROOT, root=LOCAL_ROOT)
    assert (loc.uri, rel) == ("/data/corpus/c.wav", "c.wav")


def test_output_keys():
    assert render_output_key("{relpath_stem}.{ext}", "a/b/c.flac", "wav") == "a/b/c.wav"
    assert render_output_key("{parent}/enh_{stem}.{ext}", "a/c.mp3", "flac") == "a/enh_c.flac"
    assert render_output_key("{relpath}.{ext}", "c", "wav") == "c.wav"
    for template in ("../{name}", "/abs/{name}", "s3://x/{name}", "{parent}/../../{name}"):
        with pytest.raises(UnsafePath):
            render_output_key(template, "a/b.wav", "wav")


def test_parse_location_canonical():
    assert parse_location("s3://b/p/").uri == "s3://b/p"
    assert parse_location("/x/y/../z").uri == "/x/z"
    assert parse_location("file:///x/y").uri == "/x/y"
