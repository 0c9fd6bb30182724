"""Block-string codec: round trips over every preset and the error messages."""

from __future__ import annotations

import pytest

from nas_service.arch import (
    BlockStringError,
    decode_block,
    decode_stages,
    encode_block,
    get_preset,
    list_presets,
)
from nas_service.arch.spec import Architecture


@pytest.mark.parametrize("name", list_presets())
def test_preset_strings_round_trip(name: str) -> None:
    arch = get_preset(name)
    strings = arch.block_strings()
    decoded = decode_stages(strings)
    assert decoded == arch.stages
    assert [[encode_block(b) for b in stage] for stage in decoded] == strings
    again = Architecture.from_block_strings(strings, **arch.model_dump(exclude={"stages"}))
    assert again == arch


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ir_r2_k3_s2_e6_c24_se0.25", "ir_r2_k3_s2_e6_c24_se0.25"),
        ("ir_c24_s2_k3_r2_se0.25_e6", "ir_r2_k3_s2_e6_c24_se0.25"),  # any order in, canonical order out
        ("ds_r1_k3_s1_c16_noskip", "ds_r1_k3_s1_e1_c16_noskip"),
        ("ir_r1_k3.5.7_a1.1_p1.1_s2_e6_c40_se0.5_nsw", "ir_r1_k3.5.7_a1.1_p1.1_s2_e6_c40_se0.5_nsw"),
        ("cn_r1_k1_s1_c960", "cn_r1_k1_s1_c960"),
        ("ir_r1_k3_s22_e2.5_c80", "ir_r1_k3_s2_e2.5_c80"),
        ("ir_r1_k3.5_s1_e3_c32_d2_mexp_nhs", "ir_r1_k3.5_s1_e3_c32_nhs_d2_mexp"),
    ],
)
def test_encode_is_canonical(text: str, expected: str) -> None:
    block = decode_block(text)
    assert encode_block(block) == expected
    assert decode_block(expected) == block


def test_decoded_fields() -> None:
    b = decode_block("ir_r3_k3.5.7.9_a1.1_p1.1_s1_e3_c120_se0.5_nsw")
    assert (b.type, b.repeats, b.stride, b.expansion, b.out_channels) == ("ir", 3, 1, 3.0, 120)
    assert b.kernel_sizes == [3, 5, 7, 9] and b.exp_kernel_sizes == [1, 1] and b.pw_kernel_sizes == [1, 1]
    assert b.se_ratio == 0.5 and b.act == "swish" and b.is_mixed


@pytest.mark.parametrize(
    ("text", "token"),
    [
        ("ir_r1_k3_s1_q3_c16", "q3"),
        ("ir_r1_kx_s1_c16", "kx"),
        ("ir_r1_k3.x_s1_c16", "k3.x"),
        ("ir_rx_k3_s1_c16", "rx"),
        ("ir_r1_k3_s1_c16_nzz", "nzz"),
        ("ir_r1_k3_s1_e6_e3_c16", "e3"),
        ("ir_r1_k3_sx_c16", "sx"),
        ("zz_r1_k3_c16", "zz"),
    ],
)
def test_malformed_token_is_named(text: str, token: str) -> None:
    with pytest.raises(BlockStringError, match=repr(token).replace(".", r"\.")):
        decode_block(text)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("ir_r1_k3_s1_e6", "output channels"),
        ("", "empty"),
        ("ir__r1_c16", "empty token"),
        ("ir_r1_k4_s1_c16", "kernel_sizes"),
        ("ir_r1_k3_s3_c16", "stride"),
    ],
)
def test_invalid_block_messages(text: str, fragment: str) -> None:
    with pytest.raises(BlockStringError, match=fragment):
        decode_block(text)


def test_decode_stages_names_position() -> None:
    with pytest.raises(BlockStringError, match=r"stages\[1\]\[1\].*'q3'"):
        decode_stages([["ds_r1_k3_s1_c16"], ["ir_r1_k3_s2_e6_c24", "ir_r1_q3_c24"]])
