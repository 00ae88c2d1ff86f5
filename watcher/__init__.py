"""Everything that touches the cluster and the process: streams, normalisation, the Elasticsearch
sink, leader election, wiring, CLI, config, metrics, health and the scheduler.

Nothing imports `watcher`; it imports the entry points of `rules` and `notifiers`.
"""
