"""CoMAM: the multi-agent memory system (extraction, profile and retrieval agents) and its step API.

Modules: prompts (every agent text, PROMPT_VERSION), tags (forgiving tag parsing), memory (M = {M_f, M_c}
and the budgeted view the retrieval agent reads), states (the MDP's states), agents (the Pipeline: one
calling path for evaluation and training), models (one model or LoRA adapter per agent at inference;
training.policies adds trainable adapters on the same AdapterSet), checkpoint (what a trainer writes),
config (the system's arguments), system (the MemorySystem), training (what training CoMAM needs that is
CoMAM's own: rewards, judge, scorer, rollouts and validation; the backends are comam_bench.training's).
Nothing here imports torch at module level.
"""
