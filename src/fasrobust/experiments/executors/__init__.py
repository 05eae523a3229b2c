"""Executors run the experiment's jobs: in the driver or a local process pool (`inprocess`, the
default) or as Ray tasks (`ray`, imported only when asked for). Results always flow back to the
driver, the single writer of the results store."""

from .base import Executor, ExecutorName, cpu_count, create_executor

__all__ = ["Executor", "ExecutorName", "cpu_count", "create_executor"]
