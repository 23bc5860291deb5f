"""Speed benchmarks: training throughput and sampling latency, each against its baselines.

Run them from the repository root as modules, e.g. `python -m bench.train_speed`.
"""
