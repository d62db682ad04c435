"""models: the estimators (``models.forecast``, ``models.deals``), reconciliation and temporal aggregation
(``models.hierarchy``), and the read side of what training stores (``models.registry``, ``models.batch``),
on the core only. The root publishes nothing itself: import the module or subpackage that holds the
concept."""

__all__: list[str] = []
