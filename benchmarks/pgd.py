"""PGD with restarts on chapter 5's SDNet: restarts that attack only the images still unfooled, against R single runs.

Usage: python benchmarks/pgd.py [--scale default] [--device auto] [--n 500] [--steps 10] [--restarts 5] [--norm linf]

Loads chapter 5's SDNet at λ0 for the preset (trained and cached on first use, like the chapter) and attacks n
test images with `robustness.pgd(..., restarts=R)`, which runs a restart only on the images no earlier restart
fooled. The baseline is what attacking every image every time costs: R runs of one restart each (seeds 0…R−1),
side by side in the same process. Prints the fraction of images no single run has fooled yet after each of
them (what a further restart still has to attack), the robust accuracy, both wall times and their ratio.
"""

from __future__ import annotations

import argparse

from scpaper import robustness, sdnet
from scpaper.book import runtime
from scpaper.chapters import ch5_sdnet_robustness as ch
from timing import timed


def main() -> None:
    """Time pgd with R restarts against R single-restart runs and print the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="default", choices=("smoke", "default", "full"))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--n", type=int, default=500, help="test images attacked")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--restarts", type=int, default=5)
    parser.add_argument("--norm", default="linf", choices=("linf", "l2"))
    args = parser.parse_args()
    device = runtime.pick_device(args.device)
    cfg = runtime.preset("sdnet", args.scale)
    spec = ch.spec(cfg, "sdnet", device, 0)
    model = ch.from_spec(spec)
    X, y = sdnet.cifar_split(cfg.n_val, cfg.full, 0)["test"]
    x, y = sdnet.to_unit(X[:args.n].to(device)), y[:args.n].to(device)
    eps = cfg.linf_eps if args.norm == "linf" else cfg.l2_eps
    kw = {"norm": args.norm, "eps": eps, "steps": args.steps}
    clean = robustness.scores(model, x, y)[0].mean()
    robustness.pgd(model, x[:8], y[:8], **kw)  # warm-up
    adv, t_skip = timed(lambda: robustness.pgd(model, x, y, restarts=args.restarts, seed=0, **kw), device.type)
    singles, t_all = timed(lambda: [robustness.pgd(model, x, y, restarts=1, seed=s, **kw) for s in range(args.restarts)],
                           device.type)
    standing = [robustness.scores(model, singles[0], y)[0]]
    for a in singles[1:]:
        standing.append(standing[-1] & robustness.scores(model, a, y)[0])
    print(f"SDNet at {args.scale} (width {cfg.width}), {len(x)} test images, {args.norm} ε = {eps:.4f}, "
          f"{args.steps} steps, {args.restarts} restarts, {device}; clean accuracy {clean:.3f}")
    print("unfooled after each single run: " + " ".join(f"{s.mean():.3f}" for s in standing))
    print(f"robust accuracy: restarts on the unfooled {robustness.scores(model, adv, y)[0].mean():.3f}")
    print(f"time: restarts on the unfooled {t_skip:.2f} s, every image every restart ({args.restarts} runs) "
          f"{t_all:.2f} s, ratio {t_all / t_skip:.2f}×")


if __name__ == "__main__":
    main()
