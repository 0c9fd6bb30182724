"""Ray-side trial execution: proxy data (:mod:`workers.data`), the training loop (:mod:`workers.train`), latency
(:mod:`workers.latency`), one trial attempt (:mod:`workers.trial`), the Ray layer (:mod:`workers.executor`) and
the dispatcher that connects them to the controller's storage and strategies (:mod:`workers.dispatcher`).

Nothing is imported here: torch and ray load only when a submodule is used.
"""
