"""Detection benchmark: the detection proxy loop's throughput against a plain PyTorch loop on the same model.

Two measurements:

a. **Training-loop overhead**: images/s of :func:`workers.detection_train.train_detection_proxy` (warm-up +
   cosine schedule, gradient clipping, loss averaging, stop polling, per-epoch mAP evaluation with NMS and
   pycocotools) against a plain loop doing the same work (AdamW, same batches, same loss, the same evaluation
   call) on the same detector from the same initial weights, in one process, interleaved, the order
   alternating each round; the ratio proxy / plain is the median of per-round ratios (1.0 = no overhead).
   The evaluation's share of the plain loop's time is printed too.
b. **A whole detection trial** (:func:`workers.detection_trial.run_detection_trial` in-process): wall time per
   phase (data, build, latency, train, report, other) and the share spent on useful work (train + latency).

Run: ``python -m benchmarks.detection_bench [--rounds 3] [--images 64] [--resolution 64] [--json]``.
Numbers depend on the machine and its load; on a shared box compare runs taken back to back.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import time
from collections.abc import Sequence
from typing import Any


def _detector(resolution: int) -> Any:
    from nas_service.detection.space import shapes_detection_space

    space = shapes_detection_space()
    params = {name: choices[0] for name, choices in space.parameters().items()}
    params.update(fpn_channels=32, fpn_repeats=2, head_repeats=2)
    spec = space.decode(params)
    return spec.model_copy(update={"resolution": resolution})


def plain_loop(model: Any, data: Any, cfg: Any) -> tuple[float, float, int]:
    """A bare training loop on the same batches; returns (seconds, evaluation seconds, images)."""
    import torch

    from nas_service.detection.loss import detection_loss
    from workers.detection_train import anchors_for, evaluate_detector

    t0 = time.perf_counter()
    torch.manual_seed(cfg.seed)
    shuffle = torch.Generator().manual_seed(cfg.seed)
    model.train()
    anchors = anchors_for(model, data.resolution)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    n, batch, seen, eval_s = len(data.train), min(cfg.batch_size, len(data.train)), 0, 0.0
    steps = max(1, n // batch + (1 if n % batch > 1 else 0))
    for _ in range(cfg.epochs):
        order = torch.randperm(n, generator=shuffle)
        for step in range(steps):
            idx = order[step * batch : (step + 1) * batch]
            cls_out, box_out = model(data.train.images.index_select(0, idx))
            targets = [data.train.targets[int(i)] for i in idx]
            loss = detection_loss(cls_out, box_out, anchors, targets, data.num_classes).total
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            seen += len(idx)
        e0 = time.perf_counter()
        evaluate_detector(model, data.val, torch.device("cpu"))
        eval_s += time.perf_counter() - e0
    return time.perf_counter() - t0, eval_s, seen


def bench_loop(rounds: int, images: int, resolution: int, epochs: int) -> dict[str, Any]:
    """Interleaved rounds of the proxy loop and the plain loop on copies of one detector."""
    import torch

    from nas_service.arch.bifpn import build_detector
    from nas_service.detection.config import DetectionProxyConfig
    from nas_service.detection.data import load_detection_data
    from workers.detection_train import train_detection_proxy

    torch.set_num_threads(1)
    cfg = DetectionProxyConfig(
        resolution=resolution,
        epochs=epochs,
        train_images=images,
        val_images=max(8, images // 4),
        batch_size=16,
        device="cpu",
    )
    data = load_detection_data(cfg)
    torch.manual_seed(0)
    base = build_detector(_detector(resolution))
    proxy_ips, plain_ips, ratios, eval_shares = [], [], [], []
    for r in range(rounds):
        order = ("proxy", "plain") if r % 2 == 0 else ("plain", "proxy")
        ips: dict[str, float] = {}
        for which in order:
            model = copy.deepcopy(base)
            if which == "proxy":
                out = train_detection_proxy(model, data, cfg)
                ips[which] = out.samples_seen / out.train_seconds
            else:
                seconds, eval_s, seen = plain_loop(model, data, cfg)
                ips[which] = seen / seconds
                eval_shares.append(eval_s / seconds)
        proxy_ips.append(ips["proxy"])
        plain_ips.append(ips["plain"])
        ratios.append(ips["proxy"] / ips["plain"])
    return {
        "params": sum(p.numel() for p in base.parameters()),
        "resolution": resolution,
        "train_images": images,
        "epochs": epochs,
        "proxy_images_per_s": statistics.median(proxy_ips),
        "plain_images_per_s": statistics.median(plain_ips),
        "proxy_over_plain": statistics.median(ratios),
        "plain_eval_share": statistics.median(eval_shares),
    }


def bench_trial(images: int, resolution: int, epochs: int) -> dict[str, Any]:
    """One detection trial in-process: wall time per phase."""
    from nas_service.detection.config import DetectionProxyConfig
    from nas_service.jobspec import LatencyConfig
    from workers.detection_trial import DetectionTrialPayload, run_detection_trial
    from workers.trial import NullReporter

    proxy = DetectionProxyConfig(
        resolution=resolution, epochs=epochs, train_images=images, val_images=max(8, images // 4), device="cpu"
    )
    payload = DetectionTrialPayload(
        trial_id=1,
        job_id=1,
        architecture=_detector(resolution),
        proxy=proxy,
        latency=LatencyConfig(device="cpu", warmup=3, repeats=10),
    )
    run = run_detection_trial(payload, NullReporter())
    wall = run.result.wall_seconds or 0.0
    useful = run.phases.get("train", 0.0) + run.phases.get("latency", 0.0)
    return {
        "state": run.result.state.value,
        "map": run.result.accuracy,
        "wall_s": wall,
        "phases_s": run.phases,
        "useful_share": useful / wall if wall else 0.0,
        "images_per_s": run.images_per_second,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Run both measurements and print a table (or ``--json``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    loop = bench_loop(args.rounds, args.images, args.resolution, args.epochs)
    trial = bench_trial(args.images, args.resolution, args.epochs)
    if args.json:
        print(json.dumps({"loop": loop, "trial": trial}, indent=2))
        return 0
    print(f"detector: {loop['params']:,} params at {loop['resolution']} px, {loop['train_images']} train images")
    print(f"{'proxy loop':<28}{loop['proxy_images_per_s']:>10.1f} img/s")
    print(f"{'plain PyTorch loop':<28}{loop['plain_images_per_s']:>10.1f} img/s")
    print(f"{'proxy / plain (median)':<28}{loop['proxy_over_plain']:>10.3f}")
    print(f"{'evaluation share (plain)':<28}{loop['plain_eval_share']:>10.1%}")
    phases = ", ".join(f"{k} {v:.2f}s" for k, v in trial["phases_s"].items())
    print(f"trial: {trial['state']} in {trial['wall_s']:.2f} s ({phases}); useful {trial['useful_share']:.0%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
