"""The agent file OpenRLHF loads (`--train.agent_func_path agent.py`): a class named AgentExecutor.

OpenRLHF imports the file by path and instantiates `AgentExecutor()` with no arguments, so the class reads
its settings from comam_openrlhf.json beside it (the job's working directory holds both).
"""
from __future__ import annotations

CONFIG_FILE = "comam_openrlhf.json"

AGENT_SOURCE = '''"""CoMAM agent executor for OpenRLHF 0.11.2, written by `comam-bench train` (backend openrlhf)."""
from pathlib import Path

from comam_bench.training.openrlhf.executor import CoMAMAgentExecutor

CONFIG = Path(__file__).resolve().with_name("{config}")


class AgentExecutor(CoMAMAgentExecutor):
    def __init__(self):
        super().__init__(CONFIG)
'''


def agent_source() -> str:
    """The text of agent.py."""
    return AGENT_SOURCE.format(config=CONFIG_FILE)
