"""The artifact-store contract, run on every backend: overwrite, stream, list by prefix, delete, bad keys."""

from __future__ import annotations

import io
import os
import threading

import pytest

from nas_service.artifacts import (
    CHUNK_SIZE,
    ArtifactInfo,
    ArtifactNotFound,
    BaseArtifactStore,
    InvalidArtifactKey,
    trial_weights_key,
)


def test_put_get_overwrite_delete(store: BaseArtifactStore) -> None:
    key = trial_weights_key(7)
    assert key == "trials/7/weights.pt"
    assert not store.exists(key) and store.stat(key) is None
    with pytest.raises(ArtifactNotFound):
        store.get(key)
    assert store.put(key, b"first") == ArtifactInfo(key, 5)
    assert store.get(key) == b"first" and store.exists(key)
    assert store.put(key, b"second, longer") == ArtifactInfo(key, 14)  # checkpoints overwrite in place
    assert store.get(key) == b"second, longer" and store.stat(key) == ArtifactInfo(key, 14)
    assert store.delete(key) is True and store.delete(key) is False
    assert not store.exists(key) and store.list() == []
    store.put("empty", b"")
    assert store.get("empty") == b"" and store.stat("empty") == ArtifactInfo("empty", 0)


def test_large_artifacts_stream_in_chunks(store: BaseArtifactStore) -> None:
    data = os.urandom(2 * CHUNK_SIZE + 123)
    assert store.put("ckpt/big.bin", io.BytesIO(data)).size == len(data)  # a stream is read to its end
    chunks = list(store.iter_chunks("ckpt/big.bin"))
    assert [len(c) for c in chunks] == [CHUNK_SIZE, CHUNK_SIZE, 123]
    assert b"".join(chunks) == data
    store.put("ckpt/big.bin", data[:10])  # an overwrite leaves none of the old chunks behind
    assert store.get("ckpt/big.bin") == data[:10]


def test_a_reader_never_mixes_an_overwritten_artifact(store: BaseArtifactStore) -> None:
    old, new = b"o" * (2 * CHUNK_SIZE), b"n" * (2 * CHUNK_SIZE)
    store.put("ckpt/last.pt", old)
    reader = store.iter_chunks("ckpt/last.pt")
    first = next(reader)
    store.put("ckpt/last.pt", new)
    try:
        rest = b"".join(reader)
    except ArtifactNotFound:  # the database store notices the replacement
        return
    assert first + rest == old  # the filesystem store's open file keeps the old bytes


def test_list_by_prefix(store: BaseArtifactStore) -> None:
    keys = ["trials/4/weights.pt", "trials/42/weights.pt", "trials/42/ckpt/epoch-2.pt", "jobs/1/x_y", "jobs/1/xay"]
    for key in keys:
        store.put(key, key.encode())
    assert store.list() == sorted(keys)
    assert store.list("trials/42/") == ["trials/42/ckpt/epoch-2.pt", "trials/42/weights.pt"]
    assert store.list("trials/4") == ["trials/4/weights.pt", "trials/42/ckpt/epoch-2.pt", "trials/42/weights.pt"]
    assert store.list("trials/42/ckpt/") == ["trials/42/ckpt/epoch-2.pt"]
    assert store.list("jobs/1/x_") == ["jobs/1/x_y"]  # an underscore is literal, not SQL LIKE's wildcard
    assert store.list("nothing/") == []


BAD_KEYS = ["", "/abs", "a/../b", "../x", "a//b", ".hidden", "a/.tmp", "sp ace", "a\\b", "x" * 513]


@pytest.mark.parametrize("key", BAD_KEYS)
def test_bad_keys_are_refused(store: BaseArtifactStore, key: str) -> None:
    with pytest.raises(InvalidArtifactKey):
        store.put(key, b"x")
    with pytest.raises(InvalidArtifactKey):
        store.exists(key)


def test_bad_prefix_is_refused(store: BaseArtifactStore) -> None:
    with pytest.raises(InvalidArtifactKey):
        store.list("../")


def test_concurrent_overwrites_leave_one_whole_artifact(store: BaseArtifactStore) -> None:
    payloads = [bytes([i]) * (CHUNK_SIZE // 2 + i) for i in range(4)]
    errors: list[BaseException] = []

    def write(data: bytes) -> None:
        try:
            for _ in range(3):
                store.put("shared/key.bin", data)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(p,)) for p in payloads]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert store.get("shared/key.bin") in payloads  # one writer's bytes, whole
    assert store.list("shared/") == ["shared/key.bin"]
