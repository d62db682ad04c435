"""salesplan: sales forecasting, deal scoring and target planning. This folder is the core (settings,
errors, contracts, I/O, loaders, simulator, engine); the layers install beside it as ``salesplan.models``,
``salesplan.training``, ``salesplan.planning``, ``salesplan.serving`` and ``salesplan.cli``. The root
publishes nothing itself: import the module that holds the concept."""

__all__: list[str] = []
