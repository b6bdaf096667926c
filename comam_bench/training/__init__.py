"""Training: pure RL math plus backends that only schedule work (see trainers/ for recipes).

Backend-free (lists in, lists out; no torch): credit (NDCG credit, Eqs. 13-15, and group advantages), data
(Appendix B.1 training examples and the evidence locator), recipe (YAML recipes), compare (the statistics of
a training comparison: t intervals over seeds, session bootstraps, detectable changes), summary (a
comparison's summary.json from its run folders), evaluate (the final evaluation through the harness runner),
base (the Trainer interface). Torch: grpo (the clipped loss and k3 KL, Eq. 16), policies (trainable LoRA
adapters on shared bases, checkpoints), update (completion log-probs and one per-agent GRPO step), local
(the LocalTrainer backend). What is CoMAM's own (its rewards, judge, scorer and rollouts through its
Pipeline) lives in comam_bench.comam.training; a backend names the systems it trains (Trainer.systems).
Importing this package imports nothing heavy.
"""
