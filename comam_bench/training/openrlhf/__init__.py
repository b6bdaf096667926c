"""The OpenRLHF 0.11.2 backend (`backend: openrlhf`): CoMAM trained on GPU clusters with Ray, vLLM, DeepSpeed.

Design: how three agents and adaptive credit map onto one-policy OpenRLHF
- One dataset row per training (H, q) (Appendix B.1: H is the evidence session); the label carries H, the
  question and E_q as JSON (dataset.py).
- n = G x (agents the policy plays) samples per prompt: 3 x 8 = 24 when one policy plays all three agents.
  OpenRLHF runs a prompt's n samples as n concurrent `execute` calls on one executor instance, and reshapes
  rewards to (prompts, n): the n samples of a prompt are one group.
- A per-prompt coordinator inside the executor (coordinator.py) collects those n calls, runs G chained
  trajectories extraction -> profile -> retrieval through the same CoMAM Pipeline the local trainer and the
  evaluated system use (role prompts of Appendix B.3), generating through the rollout engine (engine.py),
  scores them with the local backend's Scorer (rewards.py, judge.py) and assigns credit with credit.py:
  adaptive NDCG weights over all the pipeline's agents, Eq. 15, then per-agent group advantages.
- Sample j returns agent trained[j // G]'s completion on trajectory j mod G: the prompt and completion
  token ids the engine returned on that pipeline step's Generation (engine.py; every StepResult carries
  its own), with only the completion in `action_ranges` (the only trained span), and that agent's
  integrated advantage as its reward (executor.py).
- Estimator dr_grpo: it subtracts the mean over the n samples, which is already 0 because each agent's G
  advantages are centred, so the advantages reach the loss unchanged (reward clipping at +-10 never binds:
  |advantage| <= (G - 1) / sqrt(G)). group_norm would divide by the std of all agents together, rloo and
  reinforce_baseline re-centre or whiten across the batch. The KL term is a loss (--algo.kl.use_loss, k3),
  so it never enters the rewards.
- The profile judge (Eq. 10) runs on a separate frozen OpenAI-compatible endpoint: the policy cannot judge
  itself, and the judge must not move while the policy trains (rewards.judge=openai:...,base_url=...).

Separate policies per agent under 0.11.2
OpenRLHF trains one actor per job, with full fine-tuning (LoRA together with vLLM rollouts is reported
broken). So:
- All agents on one base: one job trains one shared policy that plays every role (role-conditioned by the
  prompts). That is the paper's "single shared policy, joint MDP RL" (Table 3), not CoMAM's separate
  policies.
- Table 7's setting (3B construction agents, 7B retrieval agent): one job per base. A job trains the agents
  of train.agents on their base while the pipeline's other agents are served frozen through
  openrlhf.frozen (OpenAI-compatible endpoints); credit is still computed over all three agents on the same
  trajectories, but only the job's agents are updated. Alternating such jobs (construction, then retrieval
  with the trained construction model served frozen, and so on) is block-coordinate training: one round is
  the paper's independent RL with CoMAM's credit; CoMAM's simultaneous update of all three policies from
  the same trajectories is approximated, not reproduced. Separate extraction and profile policies on the
  same base are the same story: one job each.

Modules: settings (the recipe's openrlhf section and every check), dataset, engine (the policy behind the
rollout engine as an LLM), coordinator, executor (imports OpenRLHF), executor_file (agent.py), command (the
exact command), trainer (the Trainer), convert (saved model -> CoMAM checkpoint), parser (OpenRLHF's own
parser and post-parse checks, from its source), realcode (OpenRLHF's experience, advantage and Actor code
without its GPU-only imports, for the tests and benchmarks/gpu_check.sh). Only executor and realcode import
OpenRLHF; nothing here is imported by `import comam_bench`.
"""
