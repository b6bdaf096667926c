"""What training CoMAM needs that is CoMAM's own: its rewards, judge and scorer (no torch here).

rewards (Eqs. 9, 11, 12 and the matching rule), judge (the profile reward, Eq. 10), preferences (the
profile reward on synthetic truth), answer (the global reward's rules, scored by the evaluator's protocol
code), rollout (trajectories through the Pipeline, scored: local and global rewards, credit, advantages),
validation (held-out questions replayed through the Pipeline), pipeline (the Pipeline a trainer builds from
a recipe, and the texts a tiny model's tokenizer must know). The backends in comam_bench.training
schedule this work; the RL math (credit, GRPO) stays there.
"""
