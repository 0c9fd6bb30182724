"""Block-string codec.

A block string describes one (repeated) block as tokens joined by ``_``. The first token is the block type, the
rest are options, in any order. The grammar is compatible with the timm / TensorFlow MnasNet-EfficientNet-MixNet
convention where the two overlap::

    block   := type ( "_" option )*
    type    := "ds"            depthwise-separable conv (dw kxk -> BN -> act -> [SE] -> pw 1x1 -> BN)
             | "ir"            inverted residual / MBConv (pw expand -> dw -> [SE] -> pw project)
             | "cn"            conv -> BN -> act
    option  := "r" INT         repeats (default 1; only the first repeat has the stride)
             | "k" INT("." INT)*   depthwise kernel size; several sizes = MDConv, e.g. k3.5.7
             | "a" INT("." INT)*   kernel sizes of the grouped 1x1 expansion, e.g. a1.1 = 2 groups
             | "p" INT("." INT)*   kernel sizes of the grouped 1x1 projection, e.g. p1.1 = 2 groups
             | "s" INT         stride of the first repeat (1 or 2; "s22" is read as 2, as in timm)
             | "e" FLOAT       expansion ratio, e.g. e6 or e2.5
             | "c" INT         output channels
             | "se" FLOAT      squeeze-and-excitation ratio, e.g. se0.25
             | "n" ACT         activation: re=ReLU, r6=ReLU6, sw=swish, hs=hard-swish, ge=GELU, mi=mish
             | "d" INT         dilation of the depthwise conv (extension)
             | "noskip"        no residual connection
             | "mexp"          exponential channel partition for MDConv (extension; default is equal)

Examples: ``ir_r2_k3_s2_e6_c24_se0.25`` (EfficientNet-B0 stage 2),
``ir_r1_k3.5.7_a1.1_p1.1_s2_e6_c40_se0.5_nsw`` (MixNet-S), ``cn_r1_k1_s1_c960`` (MobileNetV3 last stage).

Encoding is canonical: ``decode_block(encode_block(b)) == b`` for every block, and encoding a decoded string
gives the same tokens in the canonical order (type, r, k, a, p, s, e, c, se, n, d, noskip, mexp) with defaults
omitted where timm omits them.
"""

from __future__ import annotations

import re

from pydantic import ValidationError

from nas_service.arch.spec import BlockSpec

ACT_CODES: dict[str, str] = {
    "re": "relu",
    "r6": "relu6",
    "sw": "swish",
    "hs": "hard_swish",
    "ge": "gelu",
    "mi": "mish",
}
_ACT_NAMES = {v: k for k, v in ACT_CODES.items()}

_INT = re.compile(r"^\d+$")
_FLOAT = re.compile(r"^\d+(\.\d+)?$")
_INT_LIST = re.compile(r"^\d+(\.\d+)*$")


class BlockStringError(ValueError):
    """A block string could not be decoded; the message names the offending token."""


def _int_list(token: str, value: str) -> list[int]:
    if not _INT_LIST.match(value):
        raise BlockStringError(f"malformed token {token!r}: expected integers separated by '.'")
    return [int(v) for v in value.split(".")]


def _number(token: str, value: str, *, integer: bool) -> float:
    pattern = _INT if integer else _FLOAT
    if not pattern.match(value):
        kind = "an integer" if integer else "a number"
        raise BlockStringError(f"malformed token {token!r}: expected {kind}")
    return int(value) if integer else float(value)


def decode_block(text: str) -> BlockSpec:
    """Decode one block string into a :class:`BlockSpec`.

    Raises:
        BlockStringError: On an unknown or malformed token, naming it.
    """
    if not isinstance(text, str) or not text.strip():
        raise BlockStringError("empty block string")
    tokens = text.strip().split("_")
    btype = tokens[0]
    if btype not in ("ds", "ir", "cn"):
        raise BlockStringError(f"unknown block type {btype!r} in {text!r} (expected ds, ir or cn)")
    fields: dict[str, object] = {"type": btype}
    seen: set[str] = set()
    for token in tokens[1:]:
        if not token:
            raise BlockStringError(f"empty token in {text!r}")
        if token in ("noskip", "mexp"):
            key, value = token, ""
        elif token.startswith("n"):
            # Activation codes are letters ("nsw"), so "n" cannot be split off at the first digit.
            key, value = "n", token[1:]
        else:
            m = re.match(r"^([a-z]+)(\d.*)$", token)
            if not m:
                raise BlockStringError(f"unknown token {token!r} in {text!r}")
            key, value = m.group(1), m.group(2)
        if key in seen:
            raise BlockStringError(f"duplicate option {key!r} (token {token!r}) in {text!r}")
        seen.add(key)
        if key == "noskip":
            fields["skip"] = False
        elif key == "mexp":
            fields["exponential_partition"] = True
        elif key == "r":
            fields["repeats"] = _number(token, value, integer=True)
        elif key == "k":
            fields["kernel_sizes"] = _int_list(token, value)
        elif key == "a":
            fields["exp_kernel_sizes"] = _int_list(token, value)
        elif key == "p":
            fields["pw_kernel_sizes"] = _int_list(token, value)
        elif key == "s":
            # timm accepts "s22" (2x2 stride) and reads the first digit.
            if not _INT.match(value):
                raise BlockStringError(f"malformed token {token!r}: expected an integer stride")
            fields["stride"] = int(value[0])
        elif key == "e":
            fields["expansion"] = _number(token, value, integer=False)
        elif key == "c":
            fields["out_channels"] = _number(token, value, integer=True)
        elif key == "se":
            fields["se_ratio"] = _number(token, value, integer=False)
        elif key == "n":
            if value not in ACT_CODES:
                raise BlockStringError(
                    f"unknown activation token {token!r} in {text!r} (expected one of "
                    + ", ".join("n" + c for c in ACT_CODES)
                    + ")"
                )
            fields["act"] = ACT_CODES[value]
        elif key == "d":
            fields["dilation"] = _number(token, value, integer=True)
        else:
            raise BlockStringError(f"unknown token {token!r} in {text!r}")
    if "out_channels" not in fields:
        raise BlockStringError(f"block string {text!r} has no output channels token 'c<N>'")
    if fields.get("se_ratio") == 0:
        fields["se_ratio"] = None
    try:
        return BlockSpec(**fields)  # type: ignore[arg-type]
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        raise BlockStringError(f"invalid block string {text!r}: {loc}: {err['msg']}") from None


def _fmt_float(v: float) -> str:
    text = f"{v:.6g}"
    return text


def _fmt_ints(v: list[int]) -> str:
    return ".".join(str(k) for k in v)


def encode_block(block: BlockSpec) -> str:
    """Encode a :class:`BlockSpec` as a canonical block string."""
    parts = [block.type, f"r{block.repeats}", f"k{_fmt_ints(block.kernel_sizes)}"]
    if block.exp_kernel_sizes != [1]:
        parts.append(f"a{_fmt_ints(block.exp_kernel_sizes)}")
    if block.pw_kernel_sizes != [1]:
        parts.append(f"p{_fmt_ints(block.pw_kernel_sizes)}")
    parts.append(f"s{block.stride}")
    if block.type != "cn" or block.expansion != 1.0:
        parts.append(f"e{_fmt_float(block.expansion)}")
    parts.append(f"c{block.out_channels}")
    if block.se_ratio is not None:
        parts.append(f"se{_fmt_float(block.se_ratio)}")
    if block.act is not None:
        if block.act not in _ACT_NAMES:
            raise BlockStringError(f"activation {block.act!r} has no block-string code")
        parts.append(f"n{_ACT_NAMES[block.act]}")
    if block.dilation != 1:
        parts.append(f"d{block.dilation}")
    if not block.skip:
        parts.append("noskip")
    if block.exponential_partition:
        parts.append("mexp")
    return "_".join(parts)


def decode_stages(stages: list[list[str]]) -> list[list[BlockSpec]]:
    """Decode a list of stages of block strings; errors name the stage and block index."""
    out: list[list[BlockSpec]] = []
    for si, stage in enumerate(stages):
        if isinstance(stage, str):
            stage = [stage]
        blocks = []
        for bi, text in enumerate(stage):
            try:
                blocks.append(decode_block(text))
            except BlockStringError as exc:
                raise BlockStringError(f"stages[{si}][{bi}]: {exc}") from None
        out.append(blocks)
    return out
