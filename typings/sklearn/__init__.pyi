# Partial stub of scikit-learn (which ships no type information): only ``sklearn.base``, whose classes the
# salesplan estimators derive from. Untyped, ``BaseEstimator`` is ``Any`` to mypy, and a class with an
# ``Any`` base passes as *every* type: ``DealScorer`` would be accepted where a ``Forecaster`` is asked for.
# The other submodules stay untyped (not found here → ``ignore_missing_imports``).
