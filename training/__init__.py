"""training: backtests, the training jobs, logging to MLflow and the champion gate, building the batch
forecast; on the core and ``models``. The root publishes nothing itself: import the module that holds the
concept (``training.forecast_job``, ``training.tracking``, ...)."""

__all__: list[str] = []
