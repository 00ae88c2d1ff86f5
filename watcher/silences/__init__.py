"""Silences in the daemon: the stores (a file in data_dir, or Elasticsearch), the HTTP API and
the one-click link page on the status port, and the `silence` CLI. The model they all share is
the pure `notifiers.silences`; the notify stage reads only a store's `snapshot()`.

Modules: `store` (the protocol and what the stores share), `filestore`, `esstore`, `service`
(the daemon's piece: which store, started and stopped), `api` (HTTP routes), `page` (the link's
confirmation page), `cli`, `settings` (env secrets, config checks), `metrics`.
"""
