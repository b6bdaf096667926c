"""CoMAM training: pure RL math plus backends that only schedule work (see trainers/ for recipes).

Backend-free (lists in, lists out; no torch): rewards (Eqs. 9, 11, 12 and the matching rule), judge (the
profile reward, Eq. 10), credit (NDCG credit, Eqs. 13-15, and group advantages), data (Appendix B.1 training
examples and the evidence locator), recipe (YAML recipes), rollout (trajectories through the CoMAM
Pipeline, scored), base (the Trainer interface). Torch: grpo (the clipped loss and k3 KL, Eq. 16), policies
(trainable LoRA adapters on shared bases, checkpoints), update (completion log-probs and one per-agent GRPO
step), local (the LocalTrainer backend). Importing this package imports nothing heavy.
"""
