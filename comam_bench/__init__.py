"""comam-bench: a benchmark-and-evaluation harness for personalized LLM memory systems on PersonaMem.

Importing this package imports no torch, vllm, ray or openrlhf; backends load lazily by name.
"""
from comam_bench.api import (  # noqa: F401
    LLM, Answer, BadRow, Embedder, Generation, MemorySystem, Message, Question, Resources, TaskData,
)

__version__ = "0.1.0"
