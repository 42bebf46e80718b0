"""Does the discriminator of VAAL and TA-VAAL learn to tell the labeled pool from the candidates at this scale?

A diagnostic beside the evidence, not part of its reading (the reading was fixed before the sweep ran).

``python results/cpu-crn/discriminator.py`` reads every stored VAAL and TA-VAAL query of the sweep and its
extensions (:meth:`tavaal_nb.analysis.evidence.Evidence.discriminator_loss`): the discriminator's loss (eq. 8, the
sum of two binary cross-entropies) at the end of the query's VAE/D phase (at this scale the phase is one block, so
its mean over the whole phase), against ``2 ln 2 = 1.386``, the loss of a discriminator that outputs 1/2
everywhere. The ``cpu`` preset gives that phase 5 passes over labeled + candidates (``vae_epochs`` 5: 132 to 179 iterations per query), where the
authors' code gives 100.

``python results/cpu-crn/discriminator.py --probe [--passes 100] [--query 3]`` trains VAAL's VAE and discriminator
once, with the sweep's settings but PASSES passes, on the labeled set the balanced pool's VAAL trial 0 held at that
query (query 0: the random initial 200; query 3: those and VAAL's 600 picks) and 1,500 candidates drawn with seed 0
from the rest. It prints the discriminator's loss per 50 iterations and, at the end, how well ``D(mu)`` separates
the two sets: the AUC of its scores, labeled against candidates (0.5: not at all; the labeled images were trained
on, so this is the separation it learned, not one that generalises). Writes
``discriminator-probe-query-QUERY-PASSES-passes.json`` beside this file. At 100 passes about 10 minutes of a
2-core CPU beside the sweep (query 0) to 17 (query 3).

At query 0 the labeled set is a random sample of the pool, so a discriminator at chance is right; from query 1 on
it holds the strategy's picks, which a discriminator could learn to tell apart.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
CHANCE = 2 * math.log(2)  # tavaal_nb.strategies.vaal.CHANCE_DISCRIMINATOR_LOSS, without importing torch for --help


def report_stored() -> int:
    from tavaal_nb.analysis.evidence import load_evidence

    evidence = load_evidence(HERE / "sweep")  # with its extensions (sweep-<pool>/)
    print(f"discriminator loss (eq. 8) at the end of each query's VAE/D phase; chance 2 ln 2 = {CHANCE:.3f}")
    for pool in evidence.pools:
        for method, (queries, median, lowest) in sorted(evidence.discriminator_loss(pool).items()):
            print(f"  {pool:24s} {method:7s} {queries:4d} queries: median {median:.3f}, lowest {lowest:.3f}")
    return 0


def auc(labeled: list[float], candidates: list[float]) -> float:
    """P(score of a random labeled image > score of a random candidate), ties counted half: the Mann-Whitney U of
    the labeled scores over the number of pairs."""
    from scipy.stats import mannwhitneyu

    return float(mannwhitneyu(labeled, candidates).statistic) / (len(labeled) * len(candidates))


def probe(passes: float, query: int) -> int:
    import torch

    from tavaal_nb.config import Config
    from tavaal_nb.experiment_data import make_augmenter, prepare_data
    from tavaal_nb.models.adversarial import build_discriminator, build_vae
    from tavaal_nb.strategies.vaal import latent_means, train_adversarial

    trial = json.loads((HERE / "sweep/fashion-mnist/vaal/trial-0/results.json").read_text())
    # the sweep's own settings, with the VAE/D phase's passes changed
    config = Config.from_dict(trial["config"]).replace(vae_epochs=passes, device="cpu")
    torch.manual_seed(0)
    data = prepare_data(config)
    augmenter = make_augmenter(config, data)
    run = trial["runs"][0]
    labeled = torch.tensor(run["initial_indices"] + [i for c in run["cycles"][:query] for i in c["selected_indices"]])
    rest = torch.ones(data.train_images.shape[0], dtype=torch.bool)
    rest[labeled] = False
    pool = rest.nonzero().flatten()
    generator = torch.Generator().manual_seed(0)
    candidates = pool[torch.randperm(pool.numel(), generator=generator)[: config.subset]]
    vae = build_vae(config, data.channels, data.image_size, 0)
    discriminator = build_discriminator(config, 0)
    iterations = config.vae_iterations_for(labeled.numel(), candidates.numel())
    labeled_images, candidate_images = data.train_images[labeled], data.train_images[candidates]
    history = train_adversarial(vae, discriminator, labeled_images, candidate_images, None, None, config, augmenter,
                                iterations, generator, progress=False, log_every=50)
    with torch.no_grad():
        scores = [torch.sigmoid(discriminator(latent_means(vae, images, augmenter, 256), None).float()).flatten().tolist()
                  for images in (labeled_images, candidate_images)]
    separation = auc(*scores)
    print(f"VAAL, balanced pool, trial 0's labeled set at query {query}: {labeled.numel()} labeled and {candidates.numel()} candidates, {passes:g} passes = "
          f"{iterations} iterations; discriminator loss per 50 iterations (chance {CHANCE:.3f}):")
    print("  " + " ".join(f"{v:.3f}" for v in history["discriminator"]))
    print(f"AUC of D(mu), labeled against candidates, after training: {separation:.3f} (0.5: no separation)")
    out = HERE / f"discriminator-probe-query-{query}-{passes:g}-passes.json"
    record = {"query": query, "labeled": labeled.numel(), "passes": passes, "iterations": iterations, "block": 50, "chance": CHANCE,
              "discriminator_loss": history["discriminator"], "vae_loss": history["vae"], "auc": separation,
              "command": f"python results/cpu-crn/discriminator.py --probe --passes {passes:g} --query {query}"}
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=1) + "\n")
    tmp.replace(out)
    print(f"written: {out}")
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python results/cpu-crn/discriminator.py", description=__doc__.splitlines()[0])
    parser.add_argument("--probe", action="store_true", help="train one VAE/D phase instead of reading the sweep")
    parser.add_argument("--passes", type=float, default=100.0, help="passes over labeled + candidates (default 100)")
    parser.add_argument("--query", type=int, default=3, choices=range(4),
                        help="the labeled set VAAL's trial 0 held at this query (0: the random initial 200; default 3)")
    args = parser.parse_args(argv)
    if not args.probe:
        return report_stored()
    if not args.passes > 0 or not math.isfinite(args.passes):
        parser.error(f"--passes takes a positive number of passes (e.g. 100), got {args.passes:g}")
    return probe(args.passes, args.query)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
