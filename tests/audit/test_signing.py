from __future__ import annotations

import os
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from switchgear.audit.signing import (
    Signer,
    SigningKeyError,
    load_public_key,
    verify_signature,
)

H = "ab" * 32


def test_key_file_is_created_private_and_reloaded(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "dir" / "audit.pem"
    s1 = Signer.load_or_create(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(s1.key_id) == 16
    s2 = Signer.load_or_create(path)
    assert s2.key_id == s1.key_id
    assert [p.name for p in path.parent.iterdir()] == ["audit.pem"]  # no temporary left behind
    assert s1.key_id in repr(s1) and "PRIVATE" not in repr(s1)


def test_concurrent_creators_agree_on_one_key(tmp_path: Path) -> None:
    path = tmp_path / "k.pem"
    with ThreadPoolExecutor(8) as pool:
        ids = set(pool.map(lambda _: Signer.load_or_create(path).key_id, range(16)))
    assert len(ids) == 1


def test_sign_and_verify_with_the_public_key_alone(tmp_path: Path) -> None:
    signer = Signer.load_or_create(tmp_path / "k.pem")
    sig = signer.sign(10, H, 123.5)
    pub_file = tmp_path / "pub.pem"
    pub_file.write_bytes(signer.public_key_pem())
    pub = load_public_key(pub_file)
    assert verify_signature(pub, 10, H, 123.5, sig)
    assert not verify_signature(pub, 11, H, 123.5, sig)
    assert not verify_signature(pub, 10, "cd" * 32, 123.5, sig)
    assert not verify_signature(pub, 10, H, 123.0, sig)
    assert not verify_signature(Signer.generate().public_key, 10, H, 123.5, sig)
    assert not verify_signature(pub, 10, H, 123.5, "not base64!")
    # The private key file works as a public key source too.
    assert verify_signature(load_public_key(tmp_path / "k.pem"), 10, H, 123.5, sig)


def test_bad_key_files_are_clear_errors_without_key_material(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_text("-----BEGIN PRIVATE KEY-----\nc2VjcmV0c2VjcmV0\n-----END PRIVATE KEY-----\n")
    with pytest.raises(SigningKeyError) as e:
        Signer.load_or_create(bad)
    assert "c2VjcmV0" not in str(e.value)
    with pytest.raises(SigningKeyError):
        load_public_key(tmp_path / "missing.pem")
    rsa_like = tmp_path / "pub.pem"
    rsa_like.write_text("not a key")
    with pytest.raises(SigningKeyError):
        load_public_key(rsa_like)


def test_umask_cannot_widen_the_key_file(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        Signer.load_or_create(tmp_path / "k.pem")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "k.pem").stat().st_mode) == 0o600
